/** Bump allocator over [base, limit) of an address space: aligned runs, never freed; -1 when full. */
export function bump(base: number, limit: number): (bytes: number, align: number) => number {
  let next = base;
  return (bytes, align) => {
    const a = Math.ceil(next / align) * align;
    if (a + bytes > limit) return -1;
    next = a + bytes;
    return a;
  };
}
