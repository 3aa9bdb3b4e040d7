/**
 * `dict: 'object'`: after a pickle is read, each `Map` whose keys are all strings becomes a
 * plain object (identity and cycles kept; keys such as `__proto__` become own properties).
 *
 * @module
 */

/** Turns each `Map` whose keys are all strings into a plain object, keeping identity and cycles. */
export function to_objects(root: unknown): unknown {
  const seen = new Map<object, unknown>();
  const work: object[] = [];
  const convert = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    const known = seen.get(v);
    if (known !== undefined) return known;
    if (v instanceof Map) {
      let strings = true;
      for (const k of v.keys()) {
        if (typeof k !== 'string') {
          strings = false;
          break;
        }
      }
      const r = strings ? {} : v;
      seen.set(v, r);
      work.push(v);
      return r;
    }
    if (Array.isArray(v)) {
      seen.set(v, v);
      work.push(v);
    }
    return v;
  };
  const result = convert(root);
  while (work.length > 0) {
    const c = work.pop()!;
    if (c instanceof Map) {
      const r = seen.get(c);
      if (r === c) {
        for (const [k, v] of c) {
          const nv = convert(v);
          if (nv !== v) c.set(k, nv);
        }
      } else {
        const obj = r as Record<string, unknown>;
        for (const [k, v] of c as Map<string, unknown>) {
          Object.defineProperty(obj, k, { value: convert(v), enumerable: true, writable: true, configurable: true });
        }
      }
    } else {
      const a = c as unknown[];
      for (let i = 0; i < a.length; i++) a[i] = convert(a[i]);
    }
  }
  return result;
}
