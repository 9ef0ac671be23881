// algo.Cache: a map with an optional allocator for misses, a size limit that
// evicts the least recently used entries (through `free`), and a time to live.
// Also algo.hash (a number for any value) and algo.uuid (a random v4 UUID).
(function (algo) {
  function seconds(v) {
    if (typeof v === 'number') return v;
    if (typeof v !== 'string') return 0;
    var m = /^\s*([0-9.]+)\s*(ms|s|m|h|d)?\s*$/.exec(v);
    if (!m) throw new TypeError("algo.Cache: ttl must be a duration like '10s'");
    var n = Number(m[1]);
    return n * ({ ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2] || 's']);
  }

  function Cache(allocate, free, options) {
    if (!(this instanceof Cache)) return new Cache(allocate, free, options);
    if (allocate && typeof allocate === 'object' && !options) { options = allocate; allocate = undefined; }
    options = options || {};
    this._allocate = typeof allocate === 'function' ? allocate : null;
    this._free = typeof free === 'function' ? free : null;
    this._size = Math.max(0, Number(options.size) || 0);
    this._ttl = seconds(options.ttl || 0) * 1000;
    this._map = new Map();
  }

  Cache.prototype._live = function (key) {
    var e = this._map.get(key);
    if (!e) return undefined;
    if (this._ttl > 0 && Date.now() >= e.expires) {
      this._map.delete(key);
      if (this._free) this._free(key, e.value);
      return undefined;
    }
    return e;
  };

  Cache.prototype._store = function (key, value) {
    this._map.delete(key);
    this._map.set(key, { value: value, expires: this._ttl > 0 ? Date.now() + this._ttl : 0 });
    if (this._size > 0) {
      var it = this._map.keys();
      while (this._map.size > this._size) {
        var oldest = it.next().value;
        var e = this._map.get(oldest);
        this._map.delete(oldest);
        if (this._free) this._free(oldest, e.value);
      }
    }
  };

  Cache.prototype.get = function (key) {
    var e = this._live(key);
    if (e) {
      // Most recently used goes last.
      this._map.delete(key);
      this._map.set(key, e);
      return e.value;
    }
    if (!this._allocate) return undefined;
    var value = this._allocate(key);
    this._store(key, value);
    return value;
  };
  Cache.prototype.set = function (key, value) { this._store(key, value); };
  Cache.prototype.find = function (key) { var e = this._live(key); return e ? e.value : undefined; };
  Cache.prototype.has = function (key) { return this._live(key) !== undefined; };
  Cache.prototype.remove = function (key) {
    var e = this._live(key);
    if (!e) return false;
    this._map.delete(key);
    if (this._free) this._free(key, e.value);
    return true;
  };
  Cache.prototype.clear = function () {
    var free = this._free;
    if (free) this._map.forEach(function (e, k) { free(k, e.value); });
    this._map.clear();
  };
  Object.defineProperty(Cache.prototype, 'size', { get: function () { return this._map.size; } });

  algo.Cache = Cache;

  // FNV-1a over the value's text (objects: their JSON).
  algo.hash = function (v) {
    var s = typeof v === 'string' ? v : (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
    var h = 0x811c9dc5;
    for (var i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h;
  };

  algo.uuid = function () {
    var hex = '';
    for (var i = 0; i < 32; i++) {
      var d = Math.floor(Math.random() * 16);
      if (i === 12) d = 4;
      if (i === 16) d = (d & 3) | 8;
      hex += d.toString(16);
    }
    return hex.slice(0, 8) + '-' + hex.slice(8, 12) + '-' + hex.slice(12, 16) + '-' + hex.slice(16, 20) + '-' + hex.slice(20);
  };
})(globalThis.algo);
