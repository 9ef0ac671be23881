//! `YAML.parse` / `stringify` / `decode` / `encode`, as Pipy has them, on
//! `yaml-rust2`. A document crosses to the script as JSON text (written here
//! from the parsed tree, then `JSON.parse`d, so a reviver works as it does
//! there); a value crosses back as `JSON.stringify`'s text, which YAML reads
//! as it is (JSON is YAML's flow style), and is written in block style.

use rquickjs::{Ctx, Exception, Function, Object, Result};
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

/// How deeply a document may nest before it is refused (the script's own
/// stack would overflow on it later anyway).
const MAX_DEPTH: usize = 256;

/// What a text may come to once its aliases are expanded, counting each node
/// as one plus its scalar's bytes (the loader copies an anchor's node for each
/// alias: nested aliases, the "billion laughs", would grow without bound).
const MAX_EXPANDED: u64 = 16 << 20;

/// Counts the nodes a document has with its aliases expanded.
#[derive(Default)]
struct Expanded {
    /// Nodes being built: their size so far and their anchor.
    stack: Vec<(u64, usize)>,
    anchors: std::collections::HashMap<usize, u64>,
    total: u64,
}

impl Expanded {
    fn add(&mut self, size: u64, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, size);
        }
        match self.stack.last_mut() {
            Some((parent, _)) => *parent = parent.saturating_add(size),
            None => self.total = self.total.saturating_add(size),
        }
    }
}

impl yaml_rust2::parser::EventReceiver for Expanded {
    fn on_event(&mut self, ev: yaml_rust2::parser::Event) {
        use yaml_rust2::parser::Event;
        match ev {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => self.stack.push((1, anchor)),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((size, anchor)) = self.stack.pop() {
                    self.add(size, anchor);
                }
            }
            Event::Scalar(text, _, anchor, _) => self.add(1 + text.len() as u64, anchor),
            Event::Alias(id) => {
                let size = self.anchors.get(&id).copied().unwrap_or(1);
                self.add(size, 0);
            }
            _ => {}
        }
    }
}

const YAML_JS: &str = r#"
(function (g) {
  var toJson = g.__proxy_yaml_to_json, toYaml = g.__proxy_json_to_yaml;
  var YAML = {
    parse: function (text, reviver) { return JSON.parse(toJson(String(text)), reviver); },
    stringify: function (value, replacer) {
      if (value === undefined) return undefined;
      return toYaml(JSON.stringify(value, replacer));
    },
    decode: function (data, reviver) { return data == null ? null : YAML.parse(data.toString(), reviver); },
    encode: function (value, replacer) {
      if (value === undefined) return undefined;
      return new g.Data(YAML.stringify(value, replacer));
    },
  };
  Object.defineProperty(g, 'YAML', { value: YAML, writable: true, configurable: true });
})(globalThis);
"#;

/// Installs `YAML`.
pub fn install<'js>(ctx: &Ctx<'js>) -> Result<()> {
    let g: Object = ctx.globals();
    g.set(
        "__proxy_yaml_to_json",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, text: String| -> Result<String> {
            to_json(&text).map_err(|why| Exception::throw_syntax(&ctx, &format!("YAML: {why}")))
        })?,
    )?;
    g.set(
        "__proxy_json_to_yaml",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, json: String| -> Result<String> {
            to_yaml(&json).map_err(|why| Exception::throw_type(&ctx, &format!("YAML: {why}")))
        })?,
    )?;
    ctx.eval::<(), _>(YAML_JS)
}

/// The first document of `text` as JSON text (`null` for none).
pub fn to_json(text: &str) -> std::result::Result<String, String> {
    let mut count = Expanded::default();
    yaml_rust2::parser::Parser::new_from_str(text).load(&mut count, true).map_err(|e| e.to_string())?;
    if count.total > MAX_EXPANDED {
        return Err(format!("over {} MiB once its aliases are expanded", MAX_EXPANDED >> 20));
    }
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    let mut out = String::new();
    match docs.first() {
        Some(doc) => write_json(doc, &mut out, 0)?,
        None => out.push_str("null"),
    }
    Ok(out)
}

fn write_json(y: &Yaml, out: &mut String, depth: usize) -> std::result::Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested more than {MAX_DEPTH} deep"));
    }
    match y {
        Yaml::Integer(i) => out.push_str(&i.to_string()),
        Yaml::Real(_) => match y.as_f64() {
            Some(f) if f.is_finite() => out.push_str(&format!("{f:?}")),
            // .inf and .nan have no JSON form.
            _ => out.push_str("null"),
        },
        Yaml::String(s) => write_string(s, out),
        Yaml::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Yaml::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out, depth + 1)?;
            }
            out.push(']');
        }
        Yaml::Hash(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(&key_text(k), out);
                out.push(':');
                write_json(v, out, depth + 1)?;
            }
            out.push('}');
        }
        Yaml::Null | Yaml::Alias(_) | Yaml::BadValue => out.push_str("null"),
    }
    Ok(())
}

/// A mapping key as the property name a script sees.
fn key_text(k: &Yaml) -> String {
    match k {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        Yaml::Null => "null".into(),
        other => {
            let mut s = String::new();
            let _ = write_json(other, &mut s, 0);
            s
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// JSON text as YAML in block style (without the `---` header); in flow style
/// (the JSON itself, which YAML reads as it is) when the block style would
/// read back as something else (a string like `0o17` written without quotes).
pub fn to_yaml(json: &str) -> std::result::Result<String, String> {
    let docs = YamlLoader::load_from_str(json).map_err(|e| e.to_string())?;
    let Some(doc) = docs.first() else { return Ok(String::new()) };
    let mut out = String::new();
    YamlEmitter::new(&mut out).dump(doc).map_err(|e| format!("{e:?}"))?;
    let body = out.strip_prefix("---\n").or_else(|| out.strip_prefix("--- ")).unwrap_or(&out);
    let block = format!("{body}\n");
    if to_json(&block).ok() == to_json(json).ok() {
        Ok(block)
    } else {
        Ok(format!("{json}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_become_json_the_script_can_parse() {
        let text = "name: proxy\nport: 8080\nratio: 0.5\nok: true\nnone: ~\nlist:\n  - a\n  - 2\nnested: {x: [1, {y: \"q\\\"t\"}]}\n1: one\n";
        assert_eq!(
            to_json(text).unwrap(),
            r#"{"name":"proxy","port":8080,"ratio":0.5,"ok":true,"none":null,"list":["a",2],"nested":{"x":[1,{"y":"q\"t"}]},"1":"one"}"#
        );
        assert_eq!(to_json("").unwrap(), "null");
        assert_eq!(to_json("x: .inf").unwrap(), r#"{"x":null}"#);
    }

    #[test]
    fn bad_or_deep_documents_are_errors_not_panics() {
        assert!(to_json("a: [1, 2").is_err());
        assert!(to_json("a: b: c").is_err());
        let deep = "[".repeat(MAX_DEPTH + 10) + &"]".repeat(MAX_DEPTH + 10);
        assert!(to_json(&deep).is_err());
        // Aliases are expanded, so a few are fine and nested ones past the bound are refused.
        assert_eq!(to_json("a: &a [x]\nb: *a\n").unwrap(), r#"{"a":["x"],"b":["x"]}"#);
        // A long string behind nested aliases counts by its bytes.
        let mut heavy = format!("a: &a \"{}\"\nl0: &l0 [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n", "x".repeat(10_000));
        for i in 1..5 {
            heavy.push_str(&format!("l{i}: &l{i} [{}]\n", vec![format!("*l{}", i - 1); 10].join(", ")));
        }
        assert!(to_json(&heavy).is_err());
        let mut laughs = String::from("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = format!("*l{}", i - 1);
            laughs.push_str(&format!("l{i}: &l{i} [{}]\n", vec![prev; 10].join(", ")));
        }
        let err = to_json(&laughs).unwrap_err();
        assert!(err.contains("aliases"), "{err}");
    }

    #[test]
    fn json_values_come_back_as_block_yaml_that_reads_the_same() {
        let json = r#"{"name":"proxy","ports":[80,443],"tls":{"on":true}}"#;
        let yaml = to_yaml(json).unwrap();
        assert!(yaml.contains("name: proxy") && yaml.contains("- 80"), "{yaml}");
        assert_eq!(to_json(&yaml).unwrap(), json);
        // A string YAML would read as a number stays a string.
        let tricky = r#"{"k":"0o17","y":"yes","n":"~"}"#;
        assert_eq!(to_json(&to_yaml(tricky).unwrap()).unwrap(), tricky);
    }
}
