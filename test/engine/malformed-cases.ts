/** Malformed pipelines and arguments, each with the exact message mea must print. */
export interface Case {
  readonly name: string
  readonly yaml?: string
  readonly args?: ReadonlyArray<string>
  readonly files?: Record<string, string>
  /** The exact stderr; `<dir>` stands for the project folder, `<stages>` for the registered stage names. */
  readonly expected: string
}

const OK = `params: { v: 1 }
stages:
  a: { uses: source, with: { value: "\${v}" } }
  b: { uses: add, inputs: { a: a } }
`

export const cases: ReadonlyArray<Case> = [
  { name: "yaml: unclosed flow map", yaml: "stages:\n  a: { uses: source\n", expected: "error: p.yaml:3:1: YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }" },
  { name: "yaml: duplicate key", yaml: "stages:\n  a: { uses: source, with: { value: 1 } }\n  a: { uses: source }\n", expected: "error: p.yaml:3:3: YAML syntax error: Map keys must be unique" },
  { name: "yaml: tab indentation", yaml: "stages:\n\ta: { uses: source }\n", expected: "error: p.yaml:2:1: YAML syntax error: Tabs are not allowed as indentation" },
  { name: "yaml: top level is a list", yaml: "- stages\n- params\n", expected: "error: p.yaml:1:1: expected a map with 'stages', found list" },
  { name: "yaml: empty file", yaml: "", expected: "error: p.yaml:1:1: expected a map with 'stages', found an empty document" },
  { name: "schema: no stages", yaml: "params: { v: 1 }\n", expected: "error: p.yaml:1:1: stages: is missing" },
  { name: "schema: stage without uses", yaml: "stages:\n  a: { with: { value: 1 } }\n", expected: "error: p.yaml:2:6: stages.a.uses: is missing" },
  { name: "schema: uses is a number", yaml: "stages:\n  a:\n    uses: 42\n", expected: "error: p.yaml:3:11: stages.a.uses: Expected string, actual 42" },
  { name: "schema: unknown top-level key", yaml: "stage:\n  a: { uses: source }\nstages: {}\n", expected: "error: p.yaml:2:3: stage: is unexpected, expected: \"name\" | \"description\" | \"params\" | \"datasets\" | \"vars\" | \"stages\" | \"results\" | \"cluster\"" },
  { name: "schema: unknown stage entry key", yaml: "stages:\n  a:\n    uses: source\n    input: { file: x }\n", expected: "error: p.yaml:4:12: stages.a.input: is unexpected, expected: \"uses\" | \"description\" | \"foreach\" | \"matrix\" | \"id\" | \"inputs\" | \"with\"" },
  { name: "schema: params is a list", yaml: "params: [1, 2]\nstages: {}\n", expected: "error: p.yaml:1:9: params: Expected a map, actual [1,2]" },
  { name: "schema: result without path", yaml: "stages: {}\nresults:\n  - { node: a }\n", expected: "error: p.yaml:3:5: results[0].path: is missing" },
  { name: "schema: input reference is a number", yaml: "stages:\n  a: { uses: source, with: { value: 1 } }\n  b: { uses: add, inputs: { a: 5 } }\n", expected: "error: p.yaml:3:32: stages.b.inputs.a: Expected string or a list of strings, actual 5" },
  { name: "stage: unknown stage", yaml: "stages:\n  a: { uses: sourse, with: { value: 1 } }\n", expected: "error: p.yaml:2:14: stages.a.uses: unknown stage 'sourse' (did you mean 'source'?); registered stages: <stages>" },
  { name: "params: wrong type", yaml: "stages:\n  a:\n    uses: source\n    with: { value: abc }\n", expected: "error: p.yaml:4:20: stages.a.with.value: Expected number, actual \"abc\" (node 'a', stage 'source')" },
  { name: "params: unknown key", yaml: "stages:\n  a:\n    uses: source\n    with: { value: 1, valu: 2 }\n", expected: "error: p.yaml:4:29: stages.a.with.valu: is unexpected, expected: \"value\" (node 'a', stage 'source')" },
  { name: "params: missing key", yaml: "stages:\n  a:\n    uses: source\n    with: {}\n", expected: "error: p.yaml:4:11: stages.a.with.value: is missing (node 'a', stage 'source')" },
  { name: "ref: unknown node", yaml: "stages:\n  src: { uses: source, with: { value: 1 } }\n  b:\n    uses: add\n    inputs: { a: scr }\n", expected: "error: p.yaml:5:18: stages.b.inputs.a: unknown reference 'scr' in input 'a' of node 'b' (did you mean 'src'?)" },
  { name: "ref: list where one node is expected", yaml: "stages:\n  a: { uses: source, with: { value: 1 } }\n  b: { uses: add, inputs: { a: [a, a] } }\n", expected: "error: p.yaml:3:32: stages.b.inputs.a: expected a node id of a 'num' output, found [\"a\",\"a\"] (this input takes exactly one node)" },
  { name: "ref: codec mismatch", yaml: "stages:\n  t: { uses: label, with: { text: hi } }\n  b:\n    uses: add\n    inputs: { a: t }\n", expected: "error: p.yaml:5:18: stages.b.inputs.a: input 'a' of node 'b' expects a 'num' output, but 't' (stage 'label') produces 'text'" },
  { name: "ref: missing required input", yaml: "stages:\n  b:\n    uses: add\n    with: { k: 1 }\n", expected: "error: p.yaml:3:5: stages.b.inputs: missing input 'a' of stage 'add' (node 'b'): expected a node id of a 'num' output" },
  { name: "ref: unknown input name", yaml: "stages:\n  a: { uses: source, with: { value: 1 } }\n  b:\n    uses: add\n    inputs: { a: a, extra: a }\n", expected: "error: p.yaml:5:28: stages.b.inputs.extra: unknown input 'extra' for stage 'add' (its inputs: a, more)" },
  { name: "ref: glob matches nothing", yaml: "stages:\n  a: { uses: source, with: { value: 1 } }\n  b:\n    uses: add\n    inputs: { a: a, more: \"plus.*\" }\n", expected: "error: p.yaml:5:27: stages.b.inputs.more: 'plus.*' matches no node" },
  { name: "ref: missing input file", yaml: "stages:\n  a:\n    uses: source\n    with: { value: 1 }\n    inputs: { file: data/missing.txt }\n", expected: "error: p.yaml:5:21: stages.a.inputs.file: input 'file' of node 'a': expected a file at data/missing.txt (<dir>/data/missing.txt), found nothing there" },
  { name: "ref: folder where a file is expected", yaml: "stages:\n  a:\n    uses: source\n    with: { value: 1 }\n    inputs: { file: data }\n", files: { "data/x.txt": "x" }, expected: "error: p.yaml:5:21: stages.a.inputs.file: input 'file' of node 'a': expected a file at data (<dir>/data), found a folder" },
  { name: "expand: duplicate node id", yaml: "stages:\n  a.1: { uses: source, with: { value: 1 } }\n  a:\n    uses: source\n    foreach: [1]\n    with: { value: 2 }\n", expected: "error: p.yaml:4:5: stages.a: duplicate node id 'a.1' (also produced by stage entry 'a.1')" },
  { name: "expand: foreach object without id", yaml: "stages:\n  a:\n    uses: source\n    foreach: [{ v: 1 }]\n    with: { value: \"${item.v}\" }\n", expected: "error: p.yaml:4:14: stages.a.foreach: cannot name a node after {\"v\":1}: give list items an 'id' key, or the stage an 'id' template" },
  { name: "expand: foreach and matrix", yaml: "stages:\n  a:\n    uses: source\n    foreach: [1]\n    matrix: { x: [1] }\n    with: { value: 1 }\n", expected: "error: p.yaml:3:5: stages.a: use either 'foreach' or 'matrix', not both" },
  { name: "expand: foreach over a number", yaml: "params: { n: 3 }\nstages:\n  a:\n    uses: source\n    foreach: \"${n}\"\n    with: { value: 1 }\n", expected: "error: p.yaml:5:14: stages.a.foreach: expected a list (or a map) to expand over, found 3" },
  { name: "expand: node id with a space", yaml: "stages:\n  a:\n    uses: source\n    foreach: [\"x y\"]\n    with: { value: 1 }\n", expected: "error: p.yaml:3:5: stages.a: node id 'a.x y' has characters other than letters, digits, '_', '-', '.'" },
  { name: "interp: unknown name", yaml: "params: { v: 1 }\nstages:\n  a:\n    uses: source\n    with: { value: \"${w}\" }\n", expected: "error: p.yaml:5:20: stages.a.with.value: unknown name 'w' in ${w} (params: v)" },
  { name: "interp: missing key", yaml: "stages:\n  a:\n    uses: source\n    foreach: [{ id: x, v: 1 }]\n    with: { value: \"${item.w}\" }\n", expected: "error: p.yaml:5:20: stages.a.with.value: ${item.w}: 'item' has no key 'w' (it has: id, v)" },
  { name: "vars: unknown table", yaml: "vars:\n  splits: [{ id: x, v: 1 }]\nstages:\n  a:\n    uses: source\n    foreach: \"${vars.split}\"\n    with: { value: 1 }\n", expected: "error: p.yaml:6:14: stages.a.foreach: ${vars.split}: 'vars' has no key 'split' (it has: splits)" },
  { name: "vars: unknown param inside vars", yaml: "vars:\n  phases: [{ id: x, alpha: \"${alpah}\" }]\nstages:\n  a: { uses: source, with: { value: 1 } }\n", expected: "error: p.yaml:2:28: vars.phases[0].alpha: unknown name 'alpah' in ${alpah} (params: none)" },
  { name: "interp: map inside a string", yaml: "params: { m: { a: 1 } }\nstages:\n  a:\n    uses: label\n    with: { text: \"value ${m}\" }\n", expected: "error: p.yaml:5:19: stages.a.with.text: ${m} is a map and cannot be part of a string; use it as the whole value" },
  { name: "cycle: three nodes", yaml: "stages:\n  a: { uses: add, inputs: { a: c } }\n  b: { uses: add, inputs: { a: a } }\n  c: { uses: add, inputs: { a: b } }\n", expected: "error: p.yaml:2:6: stages.a: cycle: a -> c -> b -> a" },
  { name: "cycle: self", yaml: "stages:\n  a: { uses: add, inputs: { a: a } }\n", expected: "error: p.yaml:2:6: stages.a: cycle: a -> a" },
  { name: "cli: unknown param", yaml: OK, args: ["run", "p.yaml", "-p", "w=2"], expected: "error: p.yaml: params.w: unknown param 'w' (declared params: v)" },
  { name: "cli: param of the wrong type", yaml: OK, args: ["run", "p.yaml", "-p", "v=abc"], expected: "error: p.yaml: params.v: expected a number for param 'v' (like its default 1), found string \"abc\"" },
  { name: "cli: param without =", yaml: OK, args: ["run", "p.yaml", "-p", "v"], expected: "error: p.yaml: -p v: expected key=value" },
  { name: "cli: missing pipeline file", args: ["run", "nope.yaml"], expected: "error: nope.yaml: cannot read pipeline: no such file" },
  { name: "cli: jobs zero", yaml: OK, args: ["run", "p.yaml", "-j", "0"], expected: "error: --jobs must be at least 1, found 0" },
  { name: "cli: sweep axis without values", yaml: OK, args: ["sweep", "p.yaml", "v="], expected: "error: p.yaml: sweep axis 'v=': expected key=value1,value2,..." },
  { name: "cli: explain unknown node", yaml: OK, args: ["explain", "p.yaml", "zz"], expected: "error: no node 'zz' in p.yaml (nodes: a, b)" },
  { name: "cli: show unknown ref", args: ["show", "nothing-here"], expected: "error: 'nothing-here' is neither a node id with a cached output nor a hash prefix in <dir>/cache" },
  { name: "cli: unknown command", args: ["rnu", "p.yaml"], expected: "Invalid subcommand for mea - use one of 'run', 'sweep', 'status', 'explain', 'ls', 'show', 'diff', 'gc', 'verify', 'schema', 'stages', 'export', 'predict', 'worker'" },
  { name: "yaml: alias bomb (billion laughs)", yaml: "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nstages: {}\n", expected: "error: p.yaml:1:1: YAML aliases expand too far (Excessive alias count indicates a resource exhaustion attack); expected at most 1000 alias uses" },
  { name: "cli: unknown option before the pipeline", yaml: OK, args: ["run", "--nope", "p.yaml"], expected: "error: unknown option '--nope' for 'mea run' (its options: --cache, --cluster, --dry-run, --fetch, --help, --jobs, --json, --param, --quiet, --store, -j, -p, -q)" },
  { name: "cli: unknown option after the pipeline", yaml: OK, args: ["status", "p.yaml", "--verbose"], expected: "error: unknown option '--verbose' for 'mea status' (its options: --cache, --help, --json, --param, --store, -p)" },
]
