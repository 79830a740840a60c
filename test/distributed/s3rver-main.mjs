// s3rver in its own process (tests call the CLI synchronously, which would block an in-process server).
// argv: directory bucket. Prints the port on stdout once listening; stops on SIGTERM.
import S3rver from "s3rver"

const [directory, bucket] = process.argv.slice(2)
const server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] })
const { port } = await server.run()
process.stdout.write(`${port}\n`)
process.on("SIGTERM", () => server.close().then(() => process.exit(0)))
