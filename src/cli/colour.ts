/**
 * Colour only where someone sees it: @effect/cli styles help and errors with ANSI escapes unconditionally, which
 * litters `mea --help | head`, logs and CI output. SGR (colour/bold) sequences are stripped from a stream that is not
 * a terminal, and from every stream when NO_COLOR is set to a non-empty value (https://no-color.org). Cursor movement
 * of the live view is not SGR and is left alone.
 */
const SGR = /\x1b\[[0-9;]*m/g

export const colourWanted = (stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean =>
  stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === "")

export const stripColour = (text: string): string => text.replace(SGR, "")

/** Wraps `write` of stdout and stderr so that colour escapes never reach a stream that should not get them. */
export const installColourPolicy = (): void => {
  for (const stream of [process.stdout, process.stderr]) {
    if (colourWanted(stream)) continue
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: Array<unknown>) => boolean
    stream.write = ((chunk: unknown, ...rest: Array<unknown>) =>
      write(typeof chunk === "string" ? stripColour(chunk) : chunk, ...rest)) as typeof stream.write
  }
}
