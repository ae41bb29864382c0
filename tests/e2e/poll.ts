// How long expect.poll waits for a page that renders what it has, then fills in the rest as fetches land.
export const POLL = { timeout: 10_000, interval: 100 };
