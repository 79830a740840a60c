import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { zipSync } from "fflate"
import * as fs from "node:fs"
import * as path from "node:path"
import { decodeNpy, NpyFloat32Reader, NpyFloat32Writer, parseHeader, readNpy, writeNpyFloat32 } from "../../src/io/npy.ts"
import { readRecordHeader, readStringField } from "../../src/io/npy-records.ts"
import { decodeNpz, readNpz } from "../../src/io/npz.ts"
import { tempDir } from "../support/stage-harness.ts"

/** An .npy as numpy writes it (format 1.0, header padded to 64 bytes), with `data` after the header. */
const npyBytes = (header: string, data: Uint8Array = new Uint8Array(0)): Buffer => {
  const total = Math.ceil((10 + header.length + 1) / 64) * 64
  const text = header + " ".repeat(total - 10 - header.length - 1) + "\n"
  const pre = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0, 0])
  pre.writeUInt16LE(text.length, 8)
  return Buffer.concat([pre, Buffer.from(text, "latin1"), data])
}

describe("npy", () => {
  it.effect("round-trips float32 matrices written whole or row by row", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const whole = path.join(dir, "a.npy")
      yield* writeNpyFloat32(whole, [2, 3], new Float32Array([1, 2, 3, 4, 5, 6]))
      const a = yield* readNpy(whole)
      expect(a.shape).toEqual([2, 3])
      expect(Array.from(a.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6])
      // numpy requires the data to start on a 64-byte boundary and the header to end in a newline
      const bytes = fs.readFileSync(whole)
      const headerLen = bytes.readUInt16LE(8)
      expect((10 + headerLen) % 64).toBe(0)
      expect(bytes[10 + headerLen - 1]).toBe(0x0a)

      const streamed = path.join(dir, "b.npy")
      const w = yield* NpyFloat32Writer.open(streamed, 3, [2, 2])
      yield* w.write(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]))
      yield* w.write(new Float32Array([9, 10, 11, 12]))
      yield* w.close()
      const r = yield* NpyFloat32Reader.open(streamed)
      expect(r.rows).toBe(3)
      expect(r.rowShape).toEqual([2, 2])
      expect(Array.from(r.read(1, 3))).toEqual([5, 6, 7, 8, 9, 10, 11, 12])
      expect([...r.chunks(2)].map((c) => c.start)).toEqual([0, 2])
      r.close()
    }),
  )

  it.effect("refuses a writer closed with missing rows, a row of the wrong width, too many rows and a truncated file", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const file = path.join(dir, "c.npy")
      const w = yield* NpyFloat32Writer.open(file, 2, [3])
      const ragged = yield* Effect.flip(w.write(new Float32Array([1, 2])))
      expect(ragged._tag).toBe("NpyError")
      expect(ragged.message).toBe(`${file}: got 2 values, not a multiple of a row (3)`)
      const tooMany = yield* Effect.flip(w.write(new Float32Array(9)))
      expect(tooMany.message).toBe(`${file}: more than the declared 2 rows`)
      yield* w.write(new Float32Array([1, 2, 3]))
      const short = yield* Effect.flip(w.close())
      expect(short._tag).toBe("NpyError")
      expect(short.message).toBe(`${file}: wrote 1 rows, declared 2`)
      const truncated = yield* Effect.flip(NpyFloat32Reader.open(file))
      expect(truncated._tag).toBe("NpyError")
      expect(truncated.message).toBe(`${file}: truncated: expected 152 bytes, found 140`)
    }),
  )

  it.effect("refuses a shape that does not match the values, a missing file, a folder it cannot write into", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const mismatch = yield* Effect.flip(writeNpyFloat32(path.join(dir, "d.npy"), [2, 2], new Float32Array(3)))
      expect(mismatch.message).toBe(`${path.join(dir, "d.npy")}: shape (2, 2) does not match 3 values`)
      const missing = yield* Effect.flip(readNpy(path.join(dir, "nothing.npy")))
      expect(missing._tag).toBe("NpyError")
      expect(missing.message).toMatch(/^ENOENT: no such file or directory, open '.*nothing\.npy'$/)
      const noFolder = yield* Effect.flip(NpyFloat32Writer.open(path.join(dir, "no", "e.npy"), 1, [1]))
      expect(noFolder.message).toMatch(/^ENOENT: .*no[\\/]e\.npy/)
      const notOpen = yield* Effect.flip(NpyFloat32Reader.open(path.join(dir, "nothing.npy")))
      expect(notOpen.message).toMatch(/^ENOENT/)
    }),
  )

  it.effect("refuses a float64 file and a scalar where float32 rows are expected", () =>
    Effect.gen(function* () {
      const dir = tempDir()
      const f64 = path.join(dir, "f64.npy")
      fs.writeFileSync(f64, npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)))
      expect((yield* Effect.flip(NpyFloat32Reader.open(f64))).message).toBe(`${f64}: expected float32 ('<f4'), found '<f8'`)
      const scalar = path.join(dir, "scalar.npy")
      fs.writeFileSync(scalar, npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", new Uint8Array(4)))
      expect((yield* Effect.flip(NpyFloat32Reader.open(scalar))).message).toBe(`${scalar}: expected at least one dimension`)
    }),
  )

  it.effect("decodes numpy unicode string arrays (as in the reference label files)", () =>
    Effect.gen(function* () {
      // np.save of np.array(['happy', 'sad, blue']): dtype <U9
      const data = Buffer.alloc(2 * 9 * 4)
      ;["happy", "sad, blue"].forEach((s, i) => [...s].forEach((c, j) => data.writeUInt32LE(c.codePointAt(0)!, (i * 9 + j) * 4)))
      const arr = yield* decodeNpy(npyBytes("{'descr': '<U9', 'fortran_order': False, 'shape': (2,), }", data), "labels.npy")
      expect(arr.kind).toBe("string")
      expect(arr.data).toEqual(["happy", "sad, blue"])
    }),
  )

  it.effect("names the file and the problem for each bad header", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [Uint8Array, string]> = [
        [Buffer.from("hello world"), "x.npy: not an .npy file (bad magic)"],
        [npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }").subarray(0, 20), "x.npy: truncated .npy header"],
        [npyBytes("{'descr': '<f4', 'shape': (2,), }"), "x.npy: unreadable .npy header {'descr': '<f4', 'shape': (2,), }"],
        [npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }"), "x.npy: Fortran-ordered arrays are not supported; save with np.ascontiguousarray"],
        [npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }"), "x.npy: unsupported dtype '>f4' (expected little-endian numbers or '<U' strings)"],
      ]
      for (const [bytes, message] of cases) {
        const e = yield* Effect.flip(parseHeader(bytes, "x.npy"))
        expect(e._tag).toBe("NpyError")
        expect(e.message).toBe(message)
      }
      const short = yield* Effect.flip(decodeNpy(npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", new Uint8Array(8)), "x.npy"))
      expect(short.message).toBe("x.npy: truncated data: expected 16 bytes for shape (4), found 8")
    }),
  )
})

describe("npz", () => {
  it.effect("fails with NpzError naming the archive, the member or the missing members", () =>
    Effect.gen(function* () {
      const notZip = yield* Effect.flip(decodeNpz(new Uint8Array([1, 2, 3]), "bad.npz"))
      expect(notZip._tag).toBe("NpzError")
      expect(notZip.message).toMatch(/^bad\.npz: not a readable \.npz \(zip\) archive: /)
      const badMember = yield* Effect.flip(decodeNpz(zipSync({ "y.npy": new Uint8Array([1, 2]) }), "t.npz"))
      expect(badMember._tag).toBe("NpzError")
      expect(badMember.message).toBe("t.npz[y]: not an .npy file (bad magic)")
      const empty = yield* Effect.flip(decodeNpz(zipSync({ "readme.txt": new Uint8Array([65]) }), "e.npz"))
      expect(empty.message).toBe("e.npz: archive holds no .npy members")
      const missing = yield* Effect.flip(readNpz(path.join(tempDir(), "none.npz")))
      expect(missing._tag).toBe("NpzError")
      expect(missing.message).toMatch(/^ENOENT: no such file or directory/)
    }),
  )
})

describe("npy records", () => {
  /** A structured array of `rows` records: track_id '<U4' then n '<i4'. */
  const recordsFile = (rows: ReadonlyArray<readonly [string, number]>, descr = "[('track_id', '<U4'), ('n', '<i4')]"): string => {
    const data = Buffer.alloc(rows.length * 20)
    rows.forEach(([id, n], r) => {
      ;[...id].forEach((c, j) => data.writeUInt32LE(c.codePointAt(0)!, r * 20 + j * 4))
      data.writeInt32LE(n, r * 20 + 16)
    })
    const f = path.join(tempDir(), "index.npy")
    fs.writeFileSync(f, npyBytes(`{'descr': ${descr}, 'fortran_order': False, 'shape': (${rows.length},), }`, data))
    return f
  }

  it.effect("reads a unicode and an integer field", () =>
    Effect.gen(function* () {
      const f = recordsFile([["t1", 7], ["t22", -3]])
      expect((yield* readRecordHeader(f)).rows).toBe(2)
      expect(yield* readStringField(f, "track_id")).toEqual(["t1", "t22"])
      expect(yield* readStringField(f, "n")).toEqual(["7", "-3"])
    }),
  )

  it.effect("fails with NpyError for a missing field, a plain array, a truncated file and a missing file", () =>
    Effect.gen(function* () {
      const f = recordsFile([["t1", 7]])
      const noField = yield* Effect.flip(readStringField(f, "song"))
      expect(noField._tag).toBe("NpyError")
      expect(noField.message).toBe(`${f}: no field 'song' (fields: track_id, n)`)
      const plain = path.join(tempDir(), "plain.npy")
      fs.writeFileSync(plain, npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)))
      expect((yield* Effect.flip(readRecordHeader(plain))).message).toBe(`${plain}: expected a structured array (fields such as 'track_id'), found plain dtype '<f4'`)
      fs.truncateSync(f, fs.statSync(f).size - 4)
      expect((yield* Effect.flip(readRecordHeader(f))).message).toMatch(/truncated: expected \d+ bytes for 1 records of 20 bytes, found \d+$/)
      const bigEndian = recordsFile([["t1", 7]], "[('track_id', '<U4'), ('n', '>i4')]")
      expect((yield* Effect.flip(readStringField(bigEndian, "n"))).message).toBe(`${bigEndian}: field 'n' is big-endian ('>i4'); expected little-endian`)
      expect((yield* Effect.flip(readRecordHeader(path.join(tempDir(), "none.npy")))).message).toMatch(/^ENOENT/)
    }),
  )
})
