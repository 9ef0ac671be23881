// URL and URLSearchParams as Pipy scripts use them.
(function (g) {
  function decode(s) {
    try { return decodeURIComponent(String(s).replace(/\+/g, ' ')); } catch (e) { return String(s); }
  }

  function URLSearchParams(init) {
    if (!(this instanceof URLSearchParams)) return new URLSearchParams(init);
    this._list = [];
    if (typeof init === 'string') {
      var s = init.charAt(0) === '?' ? init.slice(1) : init;
      var self = this;
      s.split('&').forEach(function (kv) {
        if (!kv) return;
        var i = kv.indexOf('=');
        self._list.push(i < 0 ? [decode(kv), ''] : [decode(kv.slice(0, i)), decode(kv.slice(i + 1))]);
      });
    } else if (init && typeof init === 'object') {
      var list = this._list;
      Object.keys(init).forEach(function (k) {
        var v = init[k];
        (Array.isArray(v) ? v : [v]).forEach(function (x) { list.push([k, String(x)]); });
      });
    }
  }
  URLSearchParams.prototype.get = function (k) {
    for (var i = 0; i < this._list.length; i++) if (this._list[i][0] === k) return this._list[i][1];
    return null;
  };
  URLSearchParams.prototype.getAll = function (k) {
    return this._list.filter(function (p) { return p[0] === k; }).map(function (p) { return p[1]; });
  };
  URLSearchParams.prototype.has = function (k) { return this.get(k) !== null; };
  URLSearchParams.prototype.set = function (k, v) {
    var found = false;
    this._list = this._list.filter(function (p) {
      if (p[0] !== k) return true;
      if (found) return false;
      p[1] = String(v);
      found = true;
      return true;
    });
    if (!found) this._list.push([k, String(v)]);
  };
  URLSearchParams.prototype.append = function (k, v) { this._list.push([k, String(v)]); };
  URLSearchParams.prototype.delete = function (k) { this._list = this._list.filter(function (p) { return p[0] !== k; }); };
  URLSearchParams.prototype.toObject = function () {
    var o = {};
    this._list.forEach(function (p) {
      if (!(p[0] in o)) o[p[0]] = p[1];
      else if (Array.isArray(o[p[0]])) o[p[0]].push(p[1]);
      else o[p[0]] = [o[p[0]], p[1]];
    });
    return o;
  };
  URLSearchParams.prototype.toString = function () {
    return this._list.map(function (p) { return encodeURIComponent(p[0]) + '=' + encodeURIComponent(p[1]); }).join('&');
  };

  var PORTS = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' };

  function URL(url, base) {
    if (!(this instanceof URL)) return new URL(url, base);
    url = String(url);
    var m = /^([a-zA-Z][a-zA-Z0-9+.-]*:)\/\/(?:([^@\/?#]*)@)?([^\/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/.exec(url);
    if (!m) {
      if (base === undefined) throw new TypeError('Invalid URL: ' + url);
      var b = new URL(base);
      var path = url.charAt(0) === '/' ? url : b.pathname.replace(/[^\/]*$/, '') + url;
      return new URL(b.protocol + '//' + (b.auth ? b.auth + '@' : '') + b.host + path);
    }
    this.protocol = m[1].toLowerCase();
    this.auth = m[2] || '';
    var colon = this.auth.indexOf(':');
    this.username = colon < 0 ? this.auth : this.auth.slice(0, colon);
    this.password = colon < 0 ? '' : this.auth.slice(colon + 1);
    this.host = m[3];
    var hp = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(m[3]) || [m[3], m[3], ''];
    this.hostname = hp[1].toLowerCase();
    this.port = hp[2] || PORTS[this.protocol] || '';
    this.pathname = m[4] || '/';
    this.search = m[5] && m[5].length > 1 ? m[5] : '';
    this.query = this.search.slice(1);
    this.hash = m[6] && m[6].length > 1 ? m[6] : '';
    this.path = this.pathname + this.search;
    this.origin = this.protocol + '//' + this.host;
    this.href = this.protocol + '//' + (this.auth ? this.auth + '@' : '') + this.host + this.path + this.hash;
    this.searchParams = new URLSearchParams(this.search);
  }
  URL.prototype.toString = function () { return this.href; };
  URL.encode = encodeURI;
  URL.decode = decodeURI;
  URL.encodeComponent = encodeURIComponent;
  URL.decodeComponent = decodeURIComponent;

  g.URL = URL;
  g.URLSearchParams = URLSearchParams;
})(globalThis);
