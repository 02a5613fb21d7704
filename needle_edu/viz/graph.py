"""The computation graph behind a tensor, drawn left to right: inputs first, the result last.

Each node is a box (a leaf, or the op that made it, with its shape); each arrow runs from an
input to the node computed from it, the direction values flow in the forward pass.
"""
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

COLOURS = {"leaf": "#cfe2f3", "op": "#fde9c9", "output": "#d9ead3"}


def graph_depths(output):
    """Every node ``output`` depends on, with its depth: 0 for a leaf, else 1 + its deepest input.

    The walk keeps its own stack, so it needs nothing from the autograd module's reverse mode.
    """
    depth, stack = {}, [output]
    while stack:
        node = stack[-1]
        waiting = [x for x in node.inputs if x not in depth]
        if waiting:
            stack.extend(waiting)
            continue
        stack.pop()
        depth[node] = 1 + max((depth[x] for x in node.inputs), default=-1)
    return depth


def _label(node, names):
    shape = "×".join(map(str, node.shape)) or "scalar"
    if node in names:
        return f"{names[node]}\n{shape}"
    return f"{node.op.name if node.op is not None else 'leaf'}\n{shape}"


def plot_computation_graph(output, names=None, title=None):
    """Draw the graph that made the tensor ``output``; ``names`` maps tensors to their labels.

    Column k holds the nodes of depth k, so every arrow points to the right.
    """
    names = dict(names or {})
    depth = graph_depths(output)
    columns = {}
    for node, d in depth.items():
        columns.setdefault(d, []).append(node)
    position = {}
    for d, nodes in columns.items():
        for row, node in enumerate(nodes):
            position[node] = (2.2 * d, row - (len(nodes) - 1) / 2)
    height = max(len(nodes) for nodes in columns.values())
    fig = Figure(figsize=(2.0 + 2.0 * len(columns), 1.0 + 1.1 * height), layout="constrained")
    ax = fig.subplots()
    for node in depth:
        for source in node.inputs:
            ax.annotate("", xy=position[node], xytext=position[source],
                        arrowprops=dict(arrowstyle="-|>", color="0.35", shrinkA=42, shrinkB=42))
    for node, (x, y) in position.items():
        kind = "output" if node is output else "leaf" if node.op is None else "op"
        ax.add_patch(FancyBboxPatch((x - 0.75, y - 0.3), 1.5, 0.6, boxstyle="round,pad=0.05",
                                    facecolor=COLOURS[kind], edgecolor="0.3"))
        ax.text(x, y, _label(node, names), ha="center", va="center", fontsize=9)
    xs = [x for x, _ in position.values()]
    ys = [y for _, y in position.values()]
    ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig
