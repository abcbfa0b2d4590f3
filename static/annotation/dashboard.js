// Staff dashboard: MOS bars per system, grouped by question, with CI whiskers drawn by a small
// plugin (Chart.js has no error bars of its own). Data come from the page's json_script block.
"use strict";

(function () {
  document.querySelector("main").classList.add("wide");
  const canvas = document.getElementById("mos-chart");
  const source = document.getElementById("mos-data");
  if (!canvas || !source || typeof Chart === "undefined") return;
  const rows = JSON.parse(source.textContent);
  const questions = [...new Set(rows.map((r) => r.question))];
  const systems = [...new Set(rows.map((r) => r.system))];
  const palette = ["#2457c5", "#d9822b", "#2e9e6b", "#b3261e", "#7a4cc2", "#5b6670"];
  const find = (q, s) => rows.find((r) => r.question === q && r.system === s);
  const datasets = systems.map((system, i) => ({
    label: system,
    backgroundColor: palette[i % palette.length],
    data: questions.map((q) => (find(q, system) || {}).mos ?? null),
    ci: questions.map((q) => {
      const r = find(q, system) || {};
      return r.ci95_crowdmos ?? r.ci95 ?? null;
    }),
  }));

  const whiskers = {
    id: "whiskers",
    afterDatasetsDraw(chart) {
      const { ctx, scales } = chart;
      ctx.save();
      ctx.strokeStyle = "#1d2329";
      chart.data.datasets.forEach((ds, i) => {
        chart.getDatasetMeta(i).data.forEach((bar, j) => {
          const mean = ds.data[j];
          const half = ds.ci[j];
          if (mean == null || half == null) return;
          const top = scales.y.getPixelForValue(mean + half);
          const bottom = scales.y.getPixelForValue(mean - half);
          ctx.beginPath();
          ctx.moveTo(bar.x, top); ctx.lineTo(bar.x, bottom);
          ctx.moveTo(bar.x - 5, top); ctx.lineTo(bar.x + 5, top);
          ctx.moveTo(bar.x - 5, bottom); ctx.lineTo(bar.x + 5, bottom);
          ctx.stroke();
        });
      });
      ctx.restore();
    },
  };

  new Chart(canvas, {
    type: "bar",
    data: { labels: questions, datasets },
    options: {
      animation: false,
      scales: {
        y: {
          min: Math.min(...rows.map((r) => r.scale[0])),
          max: Math.max(...rows.map((r) => r.scale[1])),
          title: { display: true, text: "MOS" },
        },
      },
      plugins: { tooltip: { callbacks: { afterLabel: (c) => `± ${(c.dataset.ci[c.dataIndex] ?? 0).toFixed(2)}` } } },
    },
    plugins: [whiskers],
  });
})();
