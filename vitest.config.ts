import { defineConfig } from "vitest/config"
import ClusterFirstSequencer, { clusterTestFile } from "./test/cluster-first-sequencer.ts"

/**
 * Test files run one at a time: most are CPU-bound on these 2 cores, and several time kill -9 windows. The exception
 * is the cluster file, which spends its two minutes mostly waiting on workers, PostgreSQL and timers. It runs first,
 * in a group of two workers, beside long functional files with no timing in them (about 110 s in all, so they are
 * done before it is). Then every other file runs alone.
 */
const besideCluster = [
  clusterTestFile,
  "test/e2e/pipeline.test.ts",
  "test/hardening/corruption.test.ts",
  "test/datasets/import-pipeline.test.ts",
  "test/predict/predict.test.ts",
]

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    globalSetup: ["test/global-setup.ts"],
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      {
        extends: true,
        test: { name: "with-cluster", include: besideCluster, maxWorkers: 2, sequence: { groupOrder: 0, sequencer: ClusterFirstSequencer } },
      },
      { extends: true, test: { name: "main", include: ["test/**/*.test.ts"], exclude: besideCluster, maxWorkers: 1, sequence: { groupOrder: 1 } } },
    ],
  },
})
