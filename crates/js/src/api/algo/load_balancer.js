// algo.RoundRobinLoadBalancer, algo.LeastWorkLoadBalancer and
// algo.HashingLoadBalancer: three ways to pick a target, one way to lend it.
//
// Picking: round robin takes the target with the lowest hits/weight so far,
// first in the list on a tie, counts reset once every weight has been served
// (Pipy's order); least work takes the target with the fewest borrowers per
// weight, a borrower counting until it gives its resource back; hashing takes
// the target a key hashes to (the same key, the same target, while the list
// stays the same).
//
// Lending: next()/borrow() hand a borrower (the client connection unless
// given) the same resource until the borrower goes away, or until its target
// turns unhealthy; resources are pooled per target and reused by later
// borrowers. A client connection's resource goes back to the pool once the
// connection has closed (checked when a new resource would be made, and now
// and then), so the next client reuses it, and with it the upstream session
// keyed by it; other borrowers give theirs back when collected.
(function (algo, g) {
  var released = new FinalizationRegistry(function (r) { r.lb._giveBack(r.target, r.resource); });

  function unhealthyIn(caches, id) {
    for (var i = 0; i < caches.length; i++) {
      var c = caches[i];
      if (c && typeof c.find === 'function' && c.find(id)) return true;
    }
    return false;
  }

  // What the three share: targets by id, each with its pool of free resources.
  function Base(self, unhealthy) {
    self._targets = [];
    self._byId = new Map();
    self._sessions = new WeakMap();
    self._borrowed = [];
    self._sweepAt = 64;
    self._unhealthy = unhealthy;
  }

  function target(self, id) {
    var t = self._byId.get(id);
    if (!t) {
      t = { id: id, weight: 1, hits: 0, usage: 0, free: [] };
      self._targets.push(t);
      self._byId.set(id, t);
    }
    return t;
  }

  function methods(C) {
    C.prototype._healthy = function (id, unhealthy) {
      return !unhealthyIn([this._unhealthy, unhealthy], id);
    };

    C.prototype.select = function (key, unhealthy) {
      var t = this._pick(key, unhealthy);
      return t ? t.id : undefined;
    };

    C.prototype.next = function (borrower, key, unhealthy) {
      if (borrower === undefined || borrower === null) borrower = g.__inbound;
      if (borrower === undefined || borrower === null || typeof borrower !== 'object') {
        var t = this._pick(key, unhealthy);
        return t ? { id: t.id } : undefined;
      }
      var held = this._sessions.get(borrower);
      if (held) {
        if (this._healthy(held.resource.id, unhealthy)) return held.resource;
        // Its target turned unhealthy: give it back and pick again.
        released.unregister(held.token);
        this._sessions.delete(borrower);
        this._giveBack(held.target, held.resource);
      }
      // Least work counts borrowers, so closed ones are counted out before the
      // pick (a scan of the open ones, while there are few; past that, as below).
      if (this._countsBorrowers && this._borrowed.length > 0 && this._borrowed.length <= 256) this._reclaim();
      var picked = this._pick(key, unhealthy);
      if (!picked) return undefined;
      // A scan for resources to reuse costs the number of borrowers out: it runs
      // when the pool is empty while they are few, and in batches (each time
      // their number doubles) when they are many, so a pick stays cheap.
      if ((picked.free.length === 0 && this._borrowed.length <= 256) || this._borrowed.length >= this._sweepAt) {
        this._reclaim();
      }
      var resource = picked.free.pop() || { id: picked.id };
      var token = {};
      this._sessions.set(borrower, { target: picked, resource: resource, token: token });
      released.register(borrower, { lb: this, target: picked, resource: resource }, token);
      if (typeof borrower.closed === 'boolean') {
        this._borrowed.push({ borrower: borrower, target: picked, resource: resource, token: token });
      }
      return resource;
    };
    C.prototype.borrow = C.prototype.next;

    C.prototype._giveBack = function (t, resource) {
      t.free.push(resource);
      this.deselect(t.id);
    };

    // Gives back what closed client connections borrowed.
    C.prototype._reclaim = function () {
      var self = this, sessions = this._sessions;
      this._borrowed = this._borrowed.filter(function (b) {
        if (!b.borrower.closed) return true;
        var held = sessions.get(b.borrower);
        if (held && held.token === b.token) {
          released.unregister(b.token);
          sessions.delete(b.borrower);
          self._giveBack(b.target, b.resource);
        }
        return false;
      });
      this._sweepAt = Math.max(64, this._borrowed.length * 2);
    };
  }

  function each(targets, f) {
    if (Array.isArray(targets)) {
      targets.forEach(function (t) { f(String(t), 1); });
    } else if (targets && typeof targets === 'object') {
      Object.keys(targets).forEach(function (k) { f(k, Number(targets[k])); });
    }
  }

  // -- round robin --

  function RoundRobinLoadBalancer(targets, unhealthy) {
    if (!(this instanceof RoundRobinLoadBalancer)) return new RoundRobinLoadBalancer(targets, unhealthy);
    Base(this, unhealthy);
    this._totalWeight = 0;
    this._totalHits = 0;
    var self = this;
    each(targets, function (id, w) { self.set(id, w); });
  }
  methods(RoundRobinLoadBalancer);

  // A target added or changed starts level with the least used one, as in
  // Pipy, so it neither floods with picks nor waits behind the others; the
  // other targets' counts stay as they are.
  RoundRobinLoadBalancer.prototype.set = function (id, weight) {
    id = String(id);
    weight = Math.max(0, Math.floor(Number(weight) || 0));
    var min = -1;
    this._targets.forEach(function (t) { if (t.weight > 0 && (min < 0 || t.usage < min)) min = t.usage; });
    if (min < 0) min = 0;
    var known = this._byId.has(id);
    var t = target(this, id);
    var hits = Math.floor(weight * min);
    this._totalWeight += weight - (known ? t.weight : 0);
    this._totalHits += hits - (known ? t.hits : 0);
    t.weight = weight;
    t.hits = hits;
    t.usage = weight > 0 ? hits / weight : 0;
  };

  RoundRobinLoadBalancer.prototype._pick = function (key, unhealthy) {
    var best = null, totalWeight = 0;
    for (var i = 0; i < this._targets.length; i++) {
      var t = this._targets[i];
      if (t.weight <= 0 || !this._healthy(t.id, unhealthy)) continue;
      totalWeight += t.weight;
      if (!best || t.usage < best.usage) best = t;
    }
    if (!best) return null;
    best.hits++;
    best.usage = best.hits / best.weight;
    if (++this._totalHits >= totalWeight) {
      this._targets.forEach(function (t) { t.hits = 0; t.usage = 0; });
      this._totalHits = 0;
    }
    return best;
  };

  RoundRobinLoadBalancer.prototype.deselect = function () {};

  // -- least work --

  function LeastWorkLoadBalancer(targets, unhealthy) {
    if (!(this instanceof LeastWorkLoadBalancer)) return new LeastWorkLoadBalancer(targets, unhealthy);
    Base(this, unhealthy);
    this._countsBorrowers = true;
    var self = this;
    each(targets, function (id, w) { self.set(id, w); });
  }
  methods(LeastWorkLoadBalancer);

  LeastWorkLoadBalancer.prototype.set = function (id, weight) {
    if (id && typeof id === 'object') {
      // A whole new list: targets left out of it go.
      var keep = new Set(), self = this;
      each(id, function (k, w) { keep.add(k); self.set(k, w); });
      this._targets = this._targets.filter(function (t) { return keep.has(t.id) || (self._byId.delete(t.id), false); });
      return;
    }
    var t = target(this, String(id));
    t.weight = Math.max(0, Number(weight) || 0);
    t.usage = t.weight > 0 ? t.hits / t.weight : 0;
  };

  LeastWorkLoadBalancer.prototype._pick = function (key, unhealthy) {
    var best = null;
    for (var i = 0; i < this._targets.length; i++) {
      var t = this._targets[i];
      if (t.weight <= 0 || !this._healthy(t.id, unhealthy)) continue;
      if (!best || t.usage < best.usage) best = t;
    }
    if (!best) return null;
    best.hits++;
    best.usage = best.hits / best.weight;
    return best;
  };

  // A borrower of `id` is done: one less on it.
  LeastWorkLoadBalancer.prototype.deselect = function (id) {
    var t = this._byId.get(String(id));
    if (t && t.hits > 0) {
      t.hits--;
      t.usage = t.weight > 0 ? t.hits / t.weight : 0;
    }
  };

  // -- hashing --

  function HashingLoadBalancer(targets, unhealthy) {
    if (!(this instanceof HashingLoadBalancer)) return new HashingLoadBalancer(targets, unhealthy);
    Base(this, unhealthy);
    this.set(targets);
  }
  methods(HashingLoadBalancer);

  HashingLoadBalancer.prototype.set = function (targets) {
    if (!targets) return;
    this._targets = [];
    this._byId = new Map();
    var self = this;
    each(targets, function (id) { target(self, id); });
  };

  HashingLoadBalancer.prototype.add = function (id) {
    target(this, String(id));
  };

  // FNV-1a over the key's text: the same key gives the same target in every worker.
  function hash(key) {
    var s = String(key), h = 0x811c9dc5;
    for (var i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h;
  }

  HashingLoadBalancer.prototype._pick = function (key, unhealthy) {
    if (this._targets.length === 0) return null;
    var t = this._targets[hash(key) % this._targets.length];
    // An unhealthy target is not swapped for another: the key's target is out.
    return this._healthy(t.id, unhealthy) ? t : null;
  };

  HashingLoadBalancer.prototype.deselect = function () {};

  algo.RoundRobinLoadBalancer = RoundRobinLoadBalancer;
  algo.LeastWorkLoadBalancer = LeastWorkLoadBalancer;
  algo.HashingLoadBalancer = HashingLoadBalancer;
})(globalThis.algo, globalThis);
