//! `algo.URLRouter`: maps `host/path` patterns to values, as Pipy matches them.
//!
//! Patterns: `/path` (any host) or `host/path`; `*.example.com` matches every
//! subdomain; a path ending in `/*` matches everything under it, and the bare
//! prefix too. An exact path wins over a prefix, a longer prefix over a shorter
//! one, a named host over `*.` and over patterns without a host. When matching, a
//! port in the host and a `?query` in the path are ignored.

#![allow(unsafe_code)] // rquickjs' class macros generate `unsafe impl`s of its own traits.

use rquickjs::class::Trace;
use rquickjs::function::Rest;
use rquickjs::{Coerced, Ctx, Exception, JsLifetime, Object, Result, Value};
use std::collections::HashMap;

/// The matching logic, over value indices.
#[derive(Default)]
pub struct Router {
    nodes: Vec<Node>,
}

#[derive(Default)]
struct Node {
    children: HashMap<String, usize>,
    value: Option<usize>,
}

impl Router {
    fn root() -> usize {
        0
    }

    fn child(&self, node: usize, key: &str) -> Option<usize> {
        self.nodes[node].children.get(key).copied()
    }

    fn child_or_new(&mut self, node: usize, key: &str) -> usize {
        if let Some(c) = self.child(node, key) {
            return c;
        }
        self.nodes.push(Node::default());
        let c = self.nodes.len() - 1;
        self.nodes[node].children.insert(key.to_string(), c);
        c
    }

    /// Adds `pattern` with the value numbered `value`.
    pub fn add(&mut self, pattern: &str, value: usize) -> std::result::Result<(), String> {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        let Some(slash) = pattern.find('/') else { return Err(format!("invalid URL pattern '{pattern}'")) };
        let (host, path) = pattern.split_at(slash);
        if host.contains(':') {
            return Err(format!("invalid URL pattern '{pattern}': no port in patterns"));
        }
        let mut node = Self::root();
        if !host.is_empty() {
            for label in host.split('.') {
                node = self.child_or_new(node, label);
            }
        }
        node = self.child_or_new(node, "/");
        let segments: Vec<&str> = path[1..].split('/').collect();
        if segments.last() == Some(&"*") {
            for seg in segments.iter().filter(|s| !s.is_empty()) {
                node = self.child_or_new(node, seg);
            }
        } else {
            node = self.child_or_new(node, path);
        }
        self.nodes[node].value = Some(value);
        Ok(())
    }

    /// The value number for `url` (`host[:port]/path[?query]`).
    pub fn find(&self, url: &str) -> Option<usize> {
        if self.nodes.is_empty() {
            return None;
        }
        let path_start = url.find('/')?;
        let path_end = url[path_start..].find('?').map_or(url.len(), |i| path_start + i);
        let host_end = url[..path_start].rfind(':').unwrap_or(path_start);
        let host = &url[..host_end];
        let path = &url[path_start..path_end];
        let labels: Vec<&str> = host.split('.').collect();
        let found = self.find_host(Self::root(), &labels, path).or_else(|| {
            // `*.example.com` for `a.example.com`.
            let wild = self.child(Self::root(), "*")?;
            (labels.len() > 1).then(|| self.find_host(wild, &labels[1..], path)).flatten()
        });
        let found = found.or_else(|| self.find_in_paths(self.child(Self::root(), "/")?, path));
        found.and_then(|n| self.nodes[n].value)
    }

    fn find_host(&self, mut node: usize, labels: &[&str], path: &str) -> Option<usize> {
        for label in labels {
            node = self.child(node, label)?;
        }
        self.find_in_paths(self.child(node, "/")?, path)
    }

    fn find_in_paths(&self, slash: usize, path: &str) -> Option<usize> {
        if let Some(exact) = self.child(slash, path).filter(|&n| self.nodes[n].value.is_some()) {
            return Some(exact);
        }
        let segments: Vec<&str> = path[1..].split('/').collect();
        self.find_prefix(slash, &segments)
    }

    fn find_prefix(&self, node: usize, segments: &[&str]) -> Option<usize> {
        if let Some((first, rest)) = segments.split_first() {
            if let Some(c) = self.child(node, first) {
                let deeper = if rest.is_empty() { self.child(c, "*") } else { self.find_prefix(c, rest) };
                if deeper.is_some() {
                    return deeper;
                }
            }
        }
        self.child(node, "*")
    }
}

/// `algo.URLRouter` as scripts see it.
#[derive(Trace, JsLifetime, Default)]
#[rquickjs::class(rename = "URLRouter")]
pub struct JsUrlRouter<'js> {
    #[qjs(skip_trace)]
    router: Router,
    values: Vec<Value<'js>>,
}

#[rquickjs::methods]
impl<'js> JsUrlRouter<'js> {
    /// `new algo.URLRouter({ pattern: value, ... })`.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'js>, rules: rquickjs::function::Opt<Object<'js>>) -> Result<Self> {
        let mut r = JsUrlRouter::default();
        if let Some(rules) = rules.0 {
            for prop in rules.props::<String, Value>() {
                let (pattern, value) = prop?;
                r.add(ctx.clone(), pattern, value)?;
            }
        }
        Ok(r)
    }

    /// Adds a pattern.
    pub fn add(&mut self, ctx: Ctx<'js>, pattern: String, value: Value<'js>) -> Result<()> {
        self.router.add(&pattern, self.values.len()).map_err(|e| Exception::throw_type(&ctx, &e))?;
        self.values.push(value);
        Ok(())
    }

    /// The value for `find(host, path)` (segments joined as a path), or undefined.
    pub fn find(&self, ctx: Ctx<'js>, segments: Rest<Value<'js>>) -> Result<Value<'js>> {
        let mut url = String::new();
        for seg in segments.0.iter().filter(|v| !v.is_undefined() && !v.is_null()) {
            let s: Coerced<String> = seg.get()?;
            if url.is_empty() {
                url = s.0;
            } else {
                url = format!("{}/{}", url.trim_end_matches('/'), s.0.trim_start_matches('/'));
            }
        }
        Ok(match self.router.find(&url) {
            Some(i) => self.values[i].clone(),
            None => Value::new_undefined(ctx),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Router;

    fn router(patterns: &[&str]) -> Router {
        let mut r = Router::default();
        for (i, p) in patterns.iter().enumerate() {
            r.add(p, i).unwrap();
        }
        r
    }

    #[test]
    fn exact_prefix_host_and_wildcard_rules() {
        let r = router(&["/hi", "/hi/*", "/api/v1/*", "/*", "a.com/x", "*.b.com/*", "a.com/*"]);
        let find = |u: &str| r.find(u);
        assert_eq!(find("any:8080/hi"), Some(0), "exact wins");
        assert_eq!(find("any/hi/there?q=1"), Some(1), "prefix, query ignored");
        assert_eq!(find("any/api/v1"), Some(2), "a prefix matches its bare self");
        assert_eq!(find("any/api/v1/users/7"), Some(2));
        assert_eq!(find("any/elsewhere"), Some(3), "catch-all");
        assert_eq!(find("a.com:80/x"), Some(4), "host and exact path, port ignored");
        assert_eq!(find("a.com/y"), Some(6), "host prefix beats the hostless catch-all");
        assert_eq!(find("s.b.com/z"), Some(5), "*.b.com");
        assert_eq!(find("nopath"), None);
    }

    #[test]
    fn bad_patterns_are_refused_and_no_match_is_none() {
        let mut r = Router::default();
        assert!(r.add("a.com:80/x", 0).is_err());
        assert!(r.add("no-slash", 0).is_err());
        assert_eq!(router(&["/only"]).find("h/other"), None);
    }
}
