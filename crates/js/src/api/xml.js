// `XML` and `XML.Node` over the native reader (`xml.rs`), which gives a
// document as nested [name, attributes, children] arrays. Writing is here:
// text with `<`, `>` or `&` goes in CDATA sections, as Pipy writes it;
// attribute values are escaped.
(function (read) {
  function Node(name, attributes, children) {
    if (!(this instanceof Node)) return new Node(name, attributes, children);
    this.name = name === undefined || name === null ? '' : String(name);
    this.attributes = attributes === undefined ? null : attributes;
    this.children = children === undefined || children === null ? [] : children;
  }
  function toNode(a) {
    return new Node(a[0], a[1], a[2].map(function (c) { return typeof c === 'string' ? c : toNode(c); }));
  }
  function parse(text) {
    var doc = read(String(text));
    return doc === null ? null : toNode(doc);
  }
  function text(v) {
    var s = String(v);
    if (!/[<>&]/.test(s)) return s;
    // `]]>` cannot be inside a CDATA section: it is split across two.
    return '<![CDATA[' + s.split(']]>').join(']]]]><![CDATA[>') + ']]>';
  }
  // A name that would break out of its tag is refused, not written.
  function name(n) {
    if (!/^[^\s<>&"'=\/!?]+$/.test(n)) throw new TypeError('XML.stringify: not an XML name: ' + JSON.stringify(n));
    return n;
  }
  function attribute(v) {
    return String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;')
      .replace(/\t/g, '&#9;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;');
  }
  function stringify(doc, space) {
    if (!(doc instanceof Node)) throw new TypeError('XML.stringify: expects an XML.Node');
    var kids = doc.children;
    if (!kids || kids.length !== 1 || !(kids[0] instanceof Node)) return '';
    space = Math.max(0, Math.min(10, space | 0));
    var out = [];
    var write = function (node, level) {
      if (!node.name) return;
      var pad = ' '.repeat(space * level);
      out.push(pad, '<', name(node.name));
      var attrs = node.attributes;
      if (attrs) for (var k in attrs) out.push(' ', name(k), '="', attribute(attrs[k]), '"');
      var children = node.children || [];
      if (children.length === 0) {
        out.push('/>');
      } else if (children.length === 1 && !(children[0] instanceof Node)) {
        out.push('>', text(children[0]), '</', node.name, '>');
      } else {
        out.push('>');
        if (space) out.push('\n');
        for (var i = 0; i < children.length; i++) {
          var c = children[i];
          if (c instanceof Node) {
            write(c, level + 1);
          } else {
            out.push(' '.repeat(space * (level + 1)), text(c));
            if (space) out.push('\n');
          }
        }
        out.push(pad, '</', node.name, '>');
      }
      if (space) out.push('\n');
    };
    write(kids[0], 0);
    return out.join('');
  }
  globalThis.XML = {
    Node: Node,
    parse: parse,
    stringify: stringify,
    decode: function (data) { return data === null || data === undefined ? null : parse(data.toString()); },
    encode: function (doc, space) { return doc === null || doc === undefined ? null : new Data(stringify(doc, space)); },
  };
})
