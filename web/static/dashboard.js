// The finance dashboard's Sankey (资金流向), drawn by the vendored Apache ECharts.
// No inline script (our CSP runs only files from this site): the page carries the chart's data as
// JSON in <script type="application/json" id="dashboard-sankey-data">, built by web/dashboard_pages.py.
// Labels and tooltips show only text from that JSON, rendered on the canvas (tooltip renderMode
// "richText"): no HTML is built from project or fund names.
(function () {
  "use strict";

  var COLORS = { fund: "#2f6fb0", project: "#8a6d3b", other_projects: "#a39074", industry: "#0e7c3a", unspent: "#9aa5b1" };

  function draw() {
    var holder = document.getElementById("dashboard-sankey");
    var source = document.getElementById("dashboard-sankey-data");
    if (!holder || !source || typeof echarts === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var perColumn = [0, 0, 0];
    var nodes = data.nodes.map(function (n) {
      perColumn[n.depth] += 1;
      return { name: n.key, label_text: n.label, code: n.code, amount: n.amount, depth: n.depth,
               itemStyle: { color: COLORS[n.kind] } };
    });
    var links = data.links.map(function (l) {
      // `value` is yuan as an exact decimal string; the chart needs a number only to size the band.
      // Every amount a person reads is `amount`, formatted exactly on the server.
      return { source: l.source, target: l.target, value: Number(l.value), amount: l.amount };
    });
    var labelOf = {};
    nodes.forEach(function (n) { labelOf[n.name] = n.label_text; });
    // Room for every node of the busiest column (CSSOM, which the CSP allows; no style attribute).
    holder.style.height = Math.max(420, 28 * Math.max.apply(null, perColumn)) + "px";

    var chart = echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption({
      animation: false,
      tooltip: {
        trigger: "item",
        renderMode: "richText",
        formatter: function (p) {
          if (p.dataType === "edge") {
            return labelOf[p.data.source] + " → " + labelOf[p.data.target] + "\n" + p.data.amount;
          }
          return p.data.label_text + (p.data.code && p.data.code !== p.data.label_text ? " (" + p.data.code + ")" : "") +
            "\n" + p.data.amount;
        }
      },
      series: [{
        type: "sankey",
        left: 8, right: 160, top: 12, bottom: 12,
        nodeWidth: 14,
        nodeGap: 10,
        layoutIterations: 32,
        emphasis: { focus: "adjacency" },
        lineStyle: { color: "gradient", opacity: 0.35 },
        label: { formatter: function (p) { return p.data.label_text; }, fontSize: 12 },
        data: nodes,
        links: links
      }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", draw);
})();
