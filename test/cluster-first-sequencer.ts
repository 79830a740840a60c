/**
 * Orders the files of the first test group so that the cluster file starts first: it holds one of the group's two
 * workers for its whole run (mostly waiting on workers and PostgreSQL), and the others follow one at a time in the
 * second worker. Otherwise vitest's own order (longest first, from its results cache).
 */
import { BaseSequencer, type TestSpecification } from "vitest/node"

export const clusterTestFile = "test/distributed/cluster.test.ts"

export default class ClusterFirstSequencer extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const sorted = await super.sort(files)
    const first = (s: TestSpecification) => (s.moduleId.endsWith(clusterTestFile) ? 0 : 1)
    return [...sorted].sort((a, b) => first(a) - first(b))
  }
}
