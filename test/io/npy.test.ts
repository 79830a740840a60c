import { describe, expect, it } from "vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { decodeNpy, NpyFloat32Reader, NpyFloat32Writer, readNpy, writeNpyFloat32 } from "../../src/io/npy.ts"
import { tempDir } from "../support/stage-harness.ts"

describe("npy", () => {
  it("round-trips float32 matrices written whole or row by row", () => {
    const dir = tempDir()
    const whole = path.join(dir, "a.npy")
    writeNpyFloat32(whole, [2, 3], new Float32Array([1, 2, 3, 4, 5, 6]))
    const a = readNpy(whole)
    expect(a.shape).toEqual([2, 3])
    expect(Array.from(a.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6])
    // numpy requires the data to start on a 64-byte boundary and the header to end in a newline
    const bytes = fs.readFileSync(whole)
    const headerLen = bytes.readUInt16LE(8)
    expect((10 + headerLen) % 64).toBe(0)
    expect(bytes[10 + headerLen - 1]).toBe(0x0a)

    const streamed = path.join(dir, "b.npy")
    const w = new NpyFloat32Writer(streamed, 3, [2, 2])
    w.write(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]))
    w.write(new Float32Array([9, 10, 11, 12]))
    w.close()
    const r = new NpyFloat32Reader(streamed)
    expect(r.rows).toBe(3)
    expect(r.rowShape).toEqual([2, 2])
    expect(Array.from(r.read(1, 3))).toEqual([5, 6, 7, 8, 9, 10, 11, 12])
    expect([...r.chunks(2)].map((c) => c.start)).toEqual([0, 2])
    r.close()
  })

  it("refuses a writer closed with missing rows and a truncated file", () => {
    const dir = tempDir()
    const w = new NpyFloat32Writer(path.join(dir, "c.npy"), 2, [3])
    w.write(new Float32Array([1, 2, 3]))
    expect(() => w.close()).toThrow(/wrote 1 rows, declared 2/)
    expect(() => new NpyFloat32Reader(path.join(dir, "c.npy"))).toThrow(/truncated: expected 152 bytes, found 140/)
  })

  it("decodes numpy unicode string arrays (as in the reference label files)", () => {
    // np.save of np.array(['happy', 'sad, blue']): dtype <U9
    const header = "{'descr': '<U9', 'fortran_order': False, 'shape': (2,), }"
    const padded = header + " ".repeat(128 - 10 - header.length - 1) + "\n"
    const head = Buffer.alloc(10)
    Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head)
    head.writeUInt16LE(padded.length, 8)
    const data = Buffer.alloc(2 * 9 * 4)
    ;["happy", "sad, blue"].forEach((s, i) => [...s].forEach((c, j) => data.writeUInt32LE(c.codePointAt(0)!, (i * 9 + j) * 4)))
    const arr = decodeNpy(Buffer.concat([head, Buffer.from(padded, "latin1"), data]), "labels.npy")
    expect(arr.kind).toBe("string")
    expect(arr.data).toEqual(["happy", "sad, blue"])
  })

  it("names the file and the problem for bad input", () => {
    expect(() => decodeNpy(Buffer.from("hello world"), "x.npy")).toThrow("x.npy: not an .npy file (bad magic)")
  })
})
