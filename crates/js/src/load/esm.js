// The script side of ES modules (see esm.rs): a module's exports object, its
// `export` getters and `export default` setter, and the accessors its imports
// become on its scope. `__proxy_module_exports(module, path, names)` (native) loads the
// module at `path`, relative to module number `module`, and returns its exports.
(function (g) {
  var define = Object.defineProperty;
  function getter(o, name, get) {
    define(o, name, { get: get, enumerable: true, configurable: true });
  }
  function reexport(exports, source, list) {
    if (list.length === 0) {
      Object.keys(source).forEach(function (k) {
        if (k !== 'default' && !Object.prototype.hasOwnProperty.call(exports, k)) {
          getter(exports, k, function () { return source[k]; });
        }
      });
    } else {
      list.forEach(function (pair) {
        var name = pair[0];
        getter(exports, pair[1], name === '*' ? function () { return source; } : function () { return source[name]; });
      });
    }
  }
  define(g, '__proxy_esm_install', { value: function (scope, index) {
    var exports = Object.create(null);
    define(scope, '__proxy_exports', { value: exports });
    define(scope, '__proxy_export', { value: function (getters) {
      Object.keys(getters).forEach(function (k) { getter(exports, k, getters[k]); });
    } });
    define(scope, '__proxy_dflt', { set: function (v) {
      define(exports, 'default', { value: v, writable: true, enumerable: true, configurable: true });
    } });
    define(scope, '__proxy_import', { value: function (path, bindings) {
      var names = bindings.map(function (b) { return b[0]; }).filter(function (n) { return n !== '*'; });
      var source = g.__proxy_module_exports(index, path, names);
      bindings.forEach(function (b) {
        var name = b[0], local = b[1];
        if (name === '*') {
          define(scope, local, { value: source, configurable: true });
        } else {
          define(scope, local, {
            get: function () { return source[name]; },
            set: function () { throw new TypeError("'" + local + "' is imported from " + path + ' and cannot be assigned'); },
            configurable: true,
          });
        }
      });
    } });
    define(scope, '__proxy_reexport', { value: function (path, list) {
      var names = list.map(function (b) { return b[0]; }).filter(function (n) { return n !== '*'; });
      reexport(exports, g.__proxy_module_exports(index, path, names), list);
    } });
  } });
})(globalThis);
