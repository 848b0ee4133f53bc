import { describe, expect, it } from "vitest";
import { Clock, KernelBug, WaitQueue } from "../src/index.js";

describe("Clock", () => {
  it("fires timers in time order, ties in scheduling order, advancing virtual time", async () => {
    const c = new Clock();
    const log: string[] = [];
    c.after(300, () => log.push(`c@${c.now()}`));
    c.after(100, () => log.push(`a@${c.now()}`));
    c.after(100, () => log.push(`b@${c.now()}`));
    expect(await c.runUntilIdle()).toBe(3);
    expect(log).toEqual(["a@100", "b@100", "c@300"]);
    expect(c.now()).toBe(300);
  });

  it("a cancelled timer never fires; runUntilIdle({ until }) stops the clock there", async () => {
    const c = new Clock();
    let fired = false;
    const t = c.after(50, () => {
      fired = true;
    });
    c.after(500, () => {});
    t.cancel();
    expect(t.pending).toBe(false);
    await c.runUntilIdle({ until: 200 });
    expect(fired).toBe(false);
    expect(c.now()).toBe(200);
    expect(c.pending).toBe(1);
  });

  it("continuations settle between timers, so async chains interleave deterministically", async () => {
    const c = new Clock();
    const log: string[] = [];
    const task = async (name: string, period: number) => {
      for (let i = 0; i < 3; i++) {
        await c.sleep(period);
        log.push(`${name}${i}@${c.now()}`);
      }
    };
    void task("x", 10);
    void task("y", 15);
    await c.runUntilIdle();
    // both fire at 30: y1 was scheduled (at 15) before x2 (at 20), so it fires first
    expect(log).toEqual(["x0@10", "y0@15", "x1@20", "y1@30", "x2@30", "y2@45"]);
  });

  it("runUntil returns the promise's value and reports a promise that can never settle", async () => {
    const c = new Clock();
    expect(await c.runUntil(c.sleep(1000).then(() => c.now()))).toBe(1000);
    await expect(c.runUntil(new Promise(() => {}))).rejects.toThrow(KernelBug);
  });

  it("rejects a time in the past", () => {
    const c = new Clock();
    expect(() => c.at(-1, () => {})).toThrow(RangeError);
  });
});

describe("WaitQueue", () => {
  it("a waiter wakes when its condition holds after wakeUp", async () => {
    const c = new Clock();
    const wq = new WaitQueue(c);
    let ready = false;
    const p = wq.wait(() => ready);
    expect(wq.waiters).toBe(1);
    c.after(10, () => {
      ready = true;
      wq.wakeUp();
    });
    expect(await c.runUntil(p)).toBe(true);
    expect(c.now()).toBe(10);
    expect(wq.waiters).toBe(0);
  });

  it("a wakeUp with the condition still false keeps waiting", async () => {
    const c = new Clock();
    const wq = new WaitQueue(c);
    let n = 0;
    const p = wq.wait(() => n >= 2);
    c.after(5, () => {
      n = 1;
      wq.wakeUp();
    });
    c.after(9, () => {
      n = 2;
      wq.wakeUp();
    });
    expect(await c.runUntil(p)).toBe(true);
    expect(c.now()).toBe(9);
  });

  it("times out with false after the given virtual time", async () => {
    const c = new Clock();
    const wq = new WaitQueue(c);
    expect(await c.runUntil(wq.wait(() => false, 1_000_000))).toBe(false);
    expect(c.now()).toBe(1_000_000);
    expect(wq.waiters).toBe(0);
  });

  it("wakeUp re-checks conditions after the waker finished updating its state", async () => {
    const c = new Clock();
    const wq = new WaitQueue(c);
    let a = 0;
    let b = 0;
    const seen: string[] = [];
    const p = wq.wait(() => {
      seen.push(`${a},${b}`);
      return a === b && a > 0;
    });
    c.after(1, () => {
      a = 1;
      wq.wakeUp(); // mid-update: b is not set yet
      b = 1;
    });
    expect(await c.runUntil(p)).toBe(true);
    expect(seen).toEqual(["0,0", "1,1"]);
  });

  it("a condition already true resolves at once", async () => {
    const wq = new WaitQueue(new Clock());
    expect(await wq.wait(() => true, 5)).toBe(true);
  });
});

describe("Clock.runUntil and rejections", () => {
  it("a promise that rejects between timers is handed back without an unhandled rejection", async () => {
    const c = new Clock();
    const failing = (async () => {
      await c.sleep(10);
      throw new Error("timed out");
    })();
    c.after(20, () => {});
    await expect(c.runUntil(failing)).rejects.toThrow("timed out");
  });
});
