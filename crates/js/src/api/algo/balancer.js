// algo.LoadBalancer: the newer balancer. Targets are any values (a `key`
// function names them; the target itself by default) with a `weight` (1 by
// default; 0 never picked) and a `capacity` (resources per target; 0 = as many
// as needed). Each target has a load; the least loaded is picked, and picking
// adds 1/weight-share to its load ('round-robin' never takes load away, giving
// smooth weighted turns; 'least-load' takes it away when the resource is freed).
// allocate(key?, validator?) gives a resource {target, free()}: the target named
// by `key` if it is valid, else the next valid one. schedule(n, validator?)
// gives the next n targets. provision(targets) replaces the targets, keeping the
// state of those with the same key.
(function (algo) {
  function forward(queue, p) {
    var i = queue.indexOf(p), j = i + 1;
    while (j < queue.length && queue[j].load <= p.load) j++;
    if (j !== i + 1) { queue.splice(i, 1); queue.splice(j - 1, 0, p); }
  }

  function backward(queue, p) {
    var i = queue.indexOf(p), j = i - 1;
    while (j >= 0 && queue[j].load > p.load) j--;
    if (j !== i - 1) { queue.splice(i, 1); queue.splice(j + 1, 0, p); }
  }

  function Resource(balancer, pool) {
    this._balancer = balancer;
    this._pool = pool;
    this._load = 0;
  }
  Object.defineProperty(Resource.prototype, 'target', { get: function () { return this._pool.target; } });
  Resource.prototype.free = function () {
    var pool = this._pool;
    if (this._balancer._algorithm === 'least-load' && this._load > 0) {
      pool.load -= pool.step;
      backward(this._balancer._queue, pool);
    }
    if (this._load > 0) {
      this._load--;
      pool.resources.sort(function (a, b) { return a._load - b._load; });
    }
  };

  function LoadBalancer(targets, options) {
    if (!(this instanceof LoadBalancer)) return new LoadBalancer(targets, options);
    options = options || {};
    this._algorithm = options.algorithm || 'round-robin';
    if (this._algorithm !== 'round-robin' && this._algorithm !== 'least-load') {
      throw new TypeError("algo.LoadBalancer: algorithm must be 'round-robin' or 'least-load'");
    }
    this._keyOf = typeof options.key === 'function' ? options.key : null;
    this._weightOf = typeof options.weight === 'function' ? options.weight : null;
    this._capacity = options.capacity;
    this._pools = new Map();
    this._queue = [];
    this.provision(targets || []);
  }

  LoadBalancer.prototype.provision = function (targets) {
    var self = this, pools = new Map(), queue = [];
    (targets || []).forEach(function (target) {
      var key = self._keyOf ? self._keyOf(target) : target;
      var p = self._pools.get(key) || { key: key, load: 0, resources: [] };
      p.target = target;
      pools.set(key, p);
      queue.unshift(p);
      forward(queue, p);
      var w = self._weightOf ? self._weightOf(target) : undefined;
      var c = typeof self._capacity === 'function' ? self._capacity(target) : self._capacity;
      p.weight = Math.max(0, w === undefined ? 1 : Number(w) || 0);
      p.capacity = c === undefined || c === null ? 0 : (Number(c) | 0);
    });
    var total = 0;
    pools.forEach(function (p) { total += p.weight; });
    pools.forEach(function (p) { p.step = p.weight > 0 ? total / p.weight : Infinity; });
    if (this._algorithm === 'round-robin') {
      pools.forEach(function (p) { p.load = 0; });
      pools.forEach(function (p) { p.load = p.step; forward(queue, p); });
    }
    this._pools = pools;
    this._queue = queue;
  };

  LoadBalancer.prototype._next = function (validator) {
    for (var i = 0; i < this._queue.length; i++) {
      var p = this._queue[i];
      if (p.weight > 0 && (!validator || validator(p.target))) {
        p.load += p.step;
        forward(this._queue, p);
        return p;
      }
    }
    return null;
  };

  LoadBalancer.prototype._allocate = function (pool) {
    var r = pool.resources[0];
    if (!r || (r._load > 0 && (pool.capacity <= 0 || pool.capacity > pool.resources.length))) {
      r = new Resource(this, pool);
      pool.resources.unshift(r);
    }
    r._load++;
    pool.resources.sort(function (a, b) { return a._load - b._load; });
    return r;
  };

  LoadBalancer.prototype.allocate = function (key, validator) {
    if (typeof key === 'function' && validator === undefined) { validator = key; key = undefined; }
    if (typeof validator !== 'function') validator = null;
    if (key !== undefined && key !== null) {
      var p = this._pools.get(key);
      if (p && (!validator || validator(p.target))) return this._allocate(p);
    }
    var next = this._next(validator);
    return next ? this._allocate(next) : null;
  };

  LoadBalancer.prototype.schedule = function (size, validator) {
    if (typeof validator !== 'function') validator = null;
    var out = [];
    for (var i = 0; i < size; i++) {
      var p = this._next(validator);
      out.push(p ? p.target : undefined);
    }
    return out;
  };

  algo.LoadBalancer = LoadBalancer;
})(globalThis.algo);
