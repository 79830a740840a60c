/**
 * Real servers for the distributed tests, on 127.0.0.1 only: PostgreSQL 15 from Debian in a throwaway data folder (run
 * as the `postgres` user when the tests run as root, since postgres refuses root), and s3rver, an S3-compatible server
 * from npm. Each test file starts what it needs and stops it in afterAll.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { describeIfPresent } from "../support/requires.ts"

/** Debian's PostgreSQL 15; MEA_PG_BIN points elsewhere (another distribution's layout). */
const PG_BIN = process.env.MEA_PG_BIN ?? "/usr/lib/postgresql/15/bin"

export const postgresAvailable = (): boolean => fs.existsSync(path.join(PG_BIN, "pg_ctl"))

/**
 * A suite that needs PostgreSQL 15: one skip line where it is not installed, a failure under MEA_REQUIRE_POSTGRES=1
 * (.ci/run installs it and sets that).
 */
export const describeWithPostgres = (name: string, body: () => void): void =>
  describeIfPresent(name, postgresAvailable() ? undefined : `PostgreSQL 15 (${PG_BIN}/pg_ctl; Debian: apt-get install postgresql-15)`, "MEA_REQUIRE_POSTGRES", body)

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once("error", reject)
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port
      srv.close(() => resolve(port))
    })
  })

const asPostgres = (args: ReadonlyArray<string>): ReturnType<typeof spawnSync> => {
  const root = process.getuid?.() === 0
  const cmd = root ? "runuser" : args[0]
  const argv = root ? ["-u", "postgres", "--", ...args] : args.slice(1)
  return spawnSync(cmd, argv, { encoding: "utf8", timeout: 60_000 })
}

export interface Postgres {
  readonly url: string
  readonly port: number
  readonly dir: string
  readonly stop: () => void
  readonly start: () => void
}

export const startPostgres = async (): Promise<Postgres> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mea-pg-"))
  fs.chmodSync(dir, 0o777)
  const data = path.join(dir, "data")
  if (process.getuid?.() === 0) spawnSync("chown", ["postgres", dir])
  const init = asPostgres([path.join(PG_BIN, "initdb"), "-D", data, "-A", "trust", "-U", "mea", "--no-sync"])
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`)
  const port = await freePort()
  const start = () => {
    const r = asPostgres([
      path.join(PG_BIN, "pg_ctl"), "-D", data, "-l", path.join(dir, "log"), "-w", "-t", "60",
      "-o", `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off -c max_connections=200`,
      "start",
    ])
    if (r.status !== 0) throw new Error(`postgres did not start: ${r.stderr}${fs.existsSync(path.join(dir, "log")) ? fs.readFileSync(path.join(dir, "log"), "utf8") : ""}`)
  }
  start()
  const stop = () => void asPostgres([path.join(PG_BIN, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"])
  const created = spawnSync("psql", ["-h", "127.0.0.1", "-p", String(port), "-U", "mea", "-d", "postgres", "-c", "CREATE DATABASE mea"], { encoding: "utf8" })
  if (created.status !== 0) throw new Error(`createdb failed: ${created.stderr}`)
  return { url: `postgres://mea@127.0.0.1:${port}/mea`, port, dir, stop, start }
}

export const removePostgres = (pg: Postgres): void => {
  pg.stop()
  fs.rmSync(pg.dir, { recursive: true, force: true })
}

export interface S3Server {
  readonly endpoint: string
  readonly bucket: string
  readonly dir: string
  readonly close: () => Promise<void>
}

/** s3rver on a free loopback port with one bucket, in a child process; its credentials are its fixed test pair. */
export const startS3 = async (bucket = "mea-test"): Promise<S3Server> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mea-s3-"))
  const child = spawn(process.execPath, [path.join(import.meta.dirname, "s3rver-main.mjs"), dir, bucket], { stdio: ["ignore", "pipe", "inherit"] })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ""
    child.stdout.on("data", (d) => {
      out += String(d)
      if (out.includes("\n")) resolve(Number(out.trim()))
    })
    child.once("exit", (code) => reject(new Error(`s3rver exited with ${code}`)))
  })
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    dir,
    close: async () => {
      const exited = new Promise((r) => child.once("exit", r))
      child.kill("SIGTERM")
      await exited
      fs.rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** The environment a `mea` child needs to reach the s3rver bucket. */
export const s3Env = (s3: S3Server): Record<string, string> => ({
  MEA_S3_ENDPOINT: s3.endpoint,
  AWS_ACCESS_KEY_ID: "S3RVER",
  AWS_SECRET_ACCESS_KEY: "S3RVER",
  AWS_REGION: "us-east-1",
})
