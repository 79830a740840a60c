/**
 * Checks option names before @effect/cli parses them. @effect/cli treats an unknown `--flag` in front of a positional
 * argument as that argument, and then blames the real positional ("Received unknown argument: 'pipeline.yaml'").
 * Naming the flag the user actually mistyped needs the subcommand's option names, which its usage tree carries.
 */
import { Command } from "@effect/cli"
import * as Descriptor from "@effect/cli/CommandDescriptor"
import type * as Usage from "@effect/cli/Usage"
import { HashMap, Option } from "effect"

/** Options @effect/cli adds to every command. */
const BUILT_IN = ["--help", "-h", "--version", "--wizard", "--completions", "--log-level"]

const namesOf = (u: Usage.Usage): Array<string> => {
  switch (u._tag) {
    case "Named":
      return u.names.filter((n) => n.startsWith("-"))
    case "Optional":
    case "Repeated":
      return namesOf(u.usage)
    case "Alternation":
    case "Concat":
      return [...namesOf(u.left), ...namesOf(u.right)]
    default:
      return []
  }
}

/** Whether an option takes a value (so the token after it is not a positional). */
const valued = (u: Usage.Usage, out: Set<string>): void => {
  switch (u._tag) {
    case "Named":
      if (Option.isSome(u.acceptedValues)) for (const n of u.names) out.add(n)
      return
    case "Optional":
    case "Repeated":
      return valued(u.usage, out)
    case "Alternation":
    case "Concat":
      valued(u.left, out)
      valued(u.right, out)
  }
}

export interface UnknownOption {
  readonly option: string
  readonly command: string
  readonly known: ReadonlyArray<string>
}

/**
 * The first option in `args` (the arguments after `node mea`) that the chosen subcommand does not declare, if any.
 * Stops at `--` (everything after it is positional).
 */
export const findUnknownOption = <Name extends string, R, E, A>(root: Command.Command<Name, R, E, A>, args: ReadonlyArray<string>): UnknownOption | undefined => {
  const name = args.find((a) => !a.startsWith("-"))
  if (name === undefined) return undefined
  const sub = HashMap.get(Command.getSubcommands(root), name)
  if (Option.isNone(sub)) return undefined
  // A subcommand's usage starts with its own name; the rest names its options and args.
  const usage = Descriptor.getUsage(sub.value)
  const known = new Set([...namesOf(usage), ...BUILT_IN])
  const takesValue = new Set<string>(["--log-level", "--completions"])
  valued(usage, takesValue)
  const rest = args.slice(args.indexOf(name) + 1)
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]
    if (a === "--") return undefined
    if (!a.startsWith("-") || a === "-" || /^-\d/.test(a)) continue
    const flag = a.includes("=") ? a.slice(0, a.indexOf("=")) : a
    if (!known.has(flag)) return { option: flag, command: name, known: [...known].filter((k) => !BUILT_IN.includes(k) || k === "--help").sort() }
    if (takesValue.has(flag) && !a.includes("=")) i++
  }
  return undefined
}
