/** One figure on the report page. */
export interface PageFigure {
  name: string;
  title: string;
  caption: string;
  /** The figure's SVG, embedded in the page (as an image, so figures cannot clash). */
  svg: string;
  /** Files of the figure next to the page, relative to it (e.g. figures/x.png), linked below it. */
  links: readonly string[];
}

/** Everything the page shows. Nothing time- or machine-dependent: the same inputs give the same bytes. */
export interface ReportPage {
  title: string;
  /**
   * What the run is, after "A reproduction of <the paper>": the data and the denoiser, e.g. "on the
   * Random Hierarchy Model, with exact belief propagation as the denoiser". Each report says its own.
   */
  about: string;
  /** The exact command that made the results, as the user would type it. */
  command: string;
  /** Tool and version, e.g. "hierdiff 0.1.0". */
  tool: string;
  /** Parameter table rows: name, value. */
  parameters: readonly (readonly [string, string])[];
  /** Theory numbers, e.g. mean-field ε*: name, value. */
  theory: readonly (readonly [string, string])[];
  figures: readonly PageFigure[];
  /** Extra remarks (missing cells, skipped theory). */
  notes?: readonly string[];
  /** Relative link to the results file. */
  resultsFile?: string;
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const STYLE = `
body { font-family: "DejaVu Sans", system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
code, pre { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 0.92em; }
pre { background: #f5f5f5; padding: 0.6em 0.8em; overflow-x: auto; border-radius: 4px; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #fafafa; font-weight: normal; color: #555; }
figure { margin: 1.5em 0; }
figure img { width: 760px; max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { max-width: 760px; color: #333; }
.links { font-size: 0.85em; color: #666; }
nav ol { columns: 2; }
`;

/**
 * A self-contained report page: every figure's SVG is embedded (a data: URI, so the page works
 * on its own), with its caption, links to its PNG and SVG files, the parameters and the command.
 */
export function reportHtml(page: ReportPage): string {
  const e = escapeHtml;
  const table = (rows: ReportPage['parameters']) => `<table>\n${rows.map(([k, v]) => `<tr><th>${e(k)}</th><td>${e(v)}</td></tr>`).join('\n')}\n</table>`;
  const figures = page.figures
    .map((f, i) => {
      const src = `data:image/svg+xml;base64,${Buffer.from(f.svg, 'utf8').toString('base64')}`;
      const links = f.links.map((l) => `<a href="${e(l)}">${e(l.split('/').pop() ?? l)}</a>`).join(' · ');
      return `<section id="${e(f.name)}">
<h2>${i + 1}. ${e(f.title)}</h2>
<figure>
<img src="${src}" alt="${e(f.title)}">
<figcaption>${e(f.caption)}</figcaption>
${links ? `<div class="links">${links}</div>` : ''}
</figure>
</section>`;
    })
    .join('\n');
  const nav = page.figures.map((f) => `<li><a href="#${e(f.name)}">${e(f.title)}</a></li>`).join('\n');
  const notes = page.notes?.length ? `<h2>Notes</h2>\n<ul>\n${page.notes.map((n) => `<li>${e(n)}</li>`).join('\n')}\n</ul>` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(page.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${e(page.title)}</h1>
<p>A reproduction of “A Phase Transition in Diffusion Models Reveals the Hierarchical Nature of Data” (Sclocchi, Favero, Wyart, PNAS 2025) ${e(page.about)}. Made by ${e(page.tool)} with:</p>
<pre>${e(page.command)}</pre>
${page.resultsFile ? `<p>Results: <a href="${e(page.resultsFile)}">${e(page.resultsFile)}</a> (JSON lines; redraw with <code>hierdiff report ${e(page.resultsFile)} --out &lt;dir&gt;</code>).</p>` : ''}
<nav><ol>
${nav}
</ol></nav>
<h2>Parameters</h2>
${table(page.parameters)}
${page.theory.length ? `<h2>Theory</h2>\n${table(page.theory)}` : ''}
${figures}
${notes}
</body>
</html>
`;
}
