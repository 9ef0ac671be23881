// algo.RoundRobinLoadBalancer, with Pipy's pick order: the target with the lowest
// hits/weight so far, first in the list on a tie, counts reset once every weight
// has been served. next()/borrow() hand a borrower (the client connection unless
// given) the same resource until the borrower goes away; resources are pooled per
// target and reused by later borrowers. A client connection's resource goes back
// to the pool once the connection has closed (checked when a new resource would
// be made, and now and then), so the next client reuses it, and with it the
// upstream session keyed by it; other borrowers give theirs back when collected.
(function (algo, g) {
  var released = new FinalizationRegistry(function (r) { r.target.free.push(r.resource); });

  function RoundRobinLoadBalancer(targets, unhealthy) {
    if (!(this instanceof RoundRobinLoadBalancer)) return new RoundRobinLoadBalancer(targets, unhealthy);
    this._targets = [];
    this._byId = new Map();
    this._totalWeight = 0;
    this._totalHits = 0;
    this._sessions = new WeakMap();
    this._borrowed = [];
    this._sweepAt = 64;
    this._unhealthy = unhealthy;
    var self = this;
    if (Array.isArray(targets)) {
      targets.forEach(function (t) { self.set(String(t), 1); });
    } else if (targets && typeof targets === 'object') {
      Object.keys(targets).forEach(function (k) { self.set(k, Number(targets[k])); });
    }
  }

  RoundRobinLoadBalancer.prototype.set = function (id, weight) {
    id = String(id);
    weight = Math.max(0, Math.floor(Number(weight) || 0));
    var hits = this._totalWeight > 0 ? Math.floor(this._totalHits * weight / this._totalWeight) : 0;
    var t = this._byId.get(id);
    if (!t) {
      t = { id: id, weight: weight, hits: hits, usage: 0, free: [] };
      this._targets.push(t);
      this._byId.set(id, t);
      this._totalWeight += weight;
      this._totalHits += hits;
    } else {
      this._totalWeight += weight - t.weight;
      this._totalHits += hits - t.hits;
      t.weight = weight;
      t.hits = hits;
    }
    if (this._totalWeight > 0) {
      var total = this._totalWeight;
      this._targets.forEach(function (t) { if (t.weight > 0) t.usage = t.hits / total; });
    }
  };

  RoundRobinLoadBalancer.prototype._pick = function () {
    var best = null, totalWeight = 0, unhealthy = this._unhealthy;
    for (var i = 0; i < this._targets.length; i++) {
      var t = this._targets[i];
      if (t.weight <= 0) continue;
      if (unhealthy && typeof unhealthy.find === 'function' && unhealthy.find(t.id)) continue;
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

  RoundRobinLoadBalancer.prototype.select = function () {
    var t = this._pick();
    return t ? t.id : undefined;
  };

  RoundRobinLoadBalancer.prototype.deselect = function () {};

  RoundRobinLoadBalancer.prototype.next = function (borrower) {
    if (borrower === undefined || borrower === null) borrower = g.__inbound;
    if (borrower === undefined || borrower === null || typeof borrower !== 'object') {
      var t = this._pick();
      return t ? { id: t.id } : undefined;
    }
    var held = this._sessions.get(borrower);
    if (held) return held;
    var target = this._pick();
    if (!target) return undefined;
    if (target.free.length === 0 || this._borrowed.length >= this._sweepAt) this._reclaim();
    var resource = target.free.pop() || { id: target.id };
    this._sessions.set(borrower, resource);
    var token = {};
    released.register(borrower, { target: target, resource: resource }, token);
    if (typeof borrower.closed === 'boolean') {
      this._borrowed.push({ borrower: borrower, target: target, resource: resource, token: token });
    }
    return resource;
  };

  // Gives back what closed client connections borrowed.
  RoundRobinLoadBalancer.prototype._reclaim = function () {
    var sessions = this._sessions;
    this._borrowed = this._borrowed.filter(function (b) {
      if (!b.borrower.closed) return true;
      released.unregister(b.token);
      sessions.delete(b.borrower);
      b.target.free.push(b.resource);
      return false;
    });
    this._sweepAt = Math.max(64, this._borrowed.length * 2);
  };
  RoundRobinLoadBalancer.prototype.borrow = RoundRobinLoadBalancer.prototype.next;

  algo.RoundRobinLoadBalancer = RoundRobinLoadBalancer;
})(globalThis.algo, globalThis);
