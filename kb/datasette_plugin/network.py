"""Ego networks as the person and institution pages draw them (cytoscape.js, shipped in
static/): the centre, its strongest partners and the links among them."""

import networkx as nx

from ..graph import SEED

# Partners listed under a person or institution; the strongest EGO_DRAWN of them are drawn.
EGO_NEIGHBOURS = 25
EGO_DRAWN = 15  # partners drawn; the rest of the listed partners are only counted under the drawing
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


def ego_network(conn, network, kind, centre, partners, between):
    """Cytoscape elements of an ego network: the centre, its strongest partners and the
    links among them, each node coloured by its community when the network is built, sized by
    joint works and placed by a seeded spring layout, so every load draws the same picture."""
    drawn = partners[:EGO_DRAWN]
    ids = [centre["id"], *[p["id"] for p in drawn]]
    found = {node: (community, label) for node, community, label in conn.execute(
        f"SELECT node, community, community_label FROM graph_nodes WHERE network = ? "
        f"AND node IN ({','.join('?' * len(ids))})", [network, *[f"{kind}:{i}" for i in ids]])}
    labels = {centre["id"]: centre["name"], **{p["id"]: p["label"] for p in drawn}}
    weights = {p["id"]: p["weight"] for p in drawn}
    top = max(weights.values(), default=1)
    links = [e for e in between if e["source"] in labels and e["target"] in labels]
    ego = nx.Graph()
    ego.add_nodes_from(ids)
    ego.add_weighted_edges_from((e["source"], e["target"], e["weight"]) for e in links)
    positions = nx.spring_layout(ego, weight="weight", seed=SEED, scale=300)
    nodes = []
    for i in ids:
        community = (found.get(f"{kind}:{i}") or (0, None))[0] or 0
        nodes.append({"data": {"id": str(i), "label": labels[i], "centre": i == centre["id"],
                               "community": community, "colour": PALETTE[community % len(PALETTE)],
                               "weight": weights.get(i), "size": round(10 + 24 * (weights[i] / top) ** 0.5, 1)
                               if i in weights else 40,
                               "href": f"/-/{kind}/{i}"},
                      "position": {"x": round(float(positions[i][0]), 1), "y": round(float(positions[i][1]), 1)}})
    edges = [{"data": {"id": f"{e['source']}-{e['target']}", "source": str(e["source"]), "target": str(e["target"]),
                       "weight": e["weight"]}} for e in links]
    named = {community: label for community, label in found.values()}
    legend = [{"community": c, "colour": PALETTE[c % len(PALETTE)], "label": named.get(c)}
              for c in sorted({n["data"]["community"] for n in nodes})]
    return {"elements": nodes + edges, "nodes": len(nodes), "edges": len(edges), "more": len(partners) - len(drawn),
            "legend": legend}
