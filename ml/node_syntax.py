"""The canonical node line as regular-expression pieces, shared by the grammar and the plan check.

[id, x, y, "shape", width, height, "line style", (fill), (line colour), [targets], "label"?]
"""

INT = r"-?\d{1,5}"
_BYTE = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_COLOUR = rf"\({_BYTE}, {_BYTE}, {_BYTE}\)"
_SHAPE = r'"(?:rectangle|round rectangle|circle)"'
_STYLE = r'"(?:solid arrow|solid line|dashed line)"'
TARGETS = rf"\[(?:{INT}(?:, {INT})*)?\]"
LABEL = r'"(?:[^"\\\n]|\\["\\])*"'
# Everything between the id and the targets: position, shape, size, line style, fill, line colour.
NODE_FIELDS = rf"{INT}, {INT}, {_SHAPE}, {INT}, {INT}, {_STYLE}, {_COLOUR}, {_COLOUR}"
NODE = rf"\[{INT}, {NODE_FIELDS}, {TARGETS}(?:, {LABEL})?\]"

# A whole answer, for a server that holds decoding to a regular expression (vLLM's structured
# outputs): an optional comment line (the plan), then the list. Digits as [0-9], which every regex
# engine reads. Looser than ml.grammar (the plan does not hold the list), but every match parses.
ANSWER = rf"(?:#[^\n]*\n)?\[\n(?:{NODE},\n)*{NODE}\n\]".replace(r"\d", "[0-9]")
