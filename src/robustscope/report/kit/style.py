"""The stylesheet of robustscope's HTML pages (the report and the study pages share one look)."""

__all__ = ["PAGE_CSS"]

PAGE_CSS = """
body { font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 0; color: #1f2933; background: #f7f8fa; }
header { background: #1f2933; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header .meta { color: #cbd2d9; font-size: 13px; }
header .meta a.explorer { color: #9fd3f5; }
main { padding: 8px 32px 40px 32px; max-width: 1400px; }
section { background: #fff; border: 1px solid #e4e7eb; border-radius: 6px; padding: 12px 20px 20px 20px;
          margin-top: 20px; }
h2 { font-size: 18px; margin: 8px 0 12px 0; }
h3 { font-size: 15px; margin: 16px 0 6px 0; color: #3e4c59; }
p.note { color: #616e7c; font-size: 13px; margin: 4px 0 10px 0; }
.table-wrap { overflow-x: auto; }
table.results { border-collapse: collapse; font-size: 13px; }
table.results th, table.results td { border: 1px solid #e4e7eb; padding: 5px 9px; text-align: right;
                                      white-space: nowrap; }
table.results th { background: #f0f2f5; text-align: center; }
table.results th.model, table.results td.model { text-align: left; font-weight: 600; }
table.results td.best .v { font-weight: 700; color: #0b6e4f; }
table.results .ci { color: #7b8794; font-size: 11px; }
table.results td.empty { color: #bcccdc; text-align: center; }
table.results td.differs { background: #fdf3d8; }
table.results td.differs .v { font-weight: 600; }
table.results td.transform { text-align: left; } .assumed { color: #b44d12; font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 12px; }
.chart { min-height: 200px; }
.chart.wide { max-width: 1100px; }
nav.toc { font-size: 13px; margin-top: 14px; display: flex; flex-wrap: wrap; gap: 4px 16px; }
nav.toc a { color: #3b6fb6; text-decoration: none; white-space: nowrap; }
table.results.stacked td { text-align: center; }
table.results.stacked .ci { display: block; }
h2 small, h3 small { color: #7b8794; font-weight: normal; }
div.gallery { display: flex; flex-wrap: wrap; gap: 10px; }
figure.example { margin: 0; width: 210px; font-size: 12px; color: #3e4c59; }
figure.example img { image-rendering: pixelated; margin-right: 4px; }
"""
