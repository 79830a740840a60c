/**
 * A strict-enough XML well-formedness check for the report's SVG and HTML: every element closed in order, attributes
 * quoted, no raw '<' or '&' in text. Returns the problems (empty: well formed). HTML void elements (meta) and the
 * doctype are accepted.
 */
const VOID = new Set(["meta", "br", "hr", "img", "link", "input"])

export const xmlProblems = (text: string): Array<string> => {
  const problems: Array<string> = []
  const stack: Array<string> = []
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<!DOCTYPE[^>]*>|<!--[\s\S]*?-->/g
  let last = 0
  const checkText = (s: string, at: number) => {
    if (s.includes("<")) problems.push(`raw '<' at ${at}: ${JSON.stringify(s.slice(0, 60))}`)
    for (const m of s.matchAll(/&([^;\s]*);?/g)) if (!/^&(amp|lt|gt|quot|#39|#\d+);$/.test(m[0])) problems.push(`bad entity ${JSON.stringify(m[0])} at ${at}`)
  }
  for (const m of text.matchAll(tag)) {
    checkText(text.slice(last, m.index), last)
    last = m.index + m[0].length
    if (m[2] === undefined) continue
    const [_, closing, name, , selfClosing] = m
    if (closing === "/") {
      const open = stack.pop()
      if (open !== name) problems.push(`</${name}> at ${m.index} closes <${open ?? "nothing"}>`)
    } else if (selfClosing !== "/" && !VOID.has(name.toLowerCase())) stack.push(name)
  }
  checkText(text.slice(last), last)
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(" > ")}`)
  return problems
}
