// Build the page into dist/: bundle src/main.ts with esbuild, copy the HTML and CSS beside it.
import { copyFile, mkdir, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const src = join(root, "src");
const dist = join(root, "dist");

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
const result = await build({
  entryPoints: [join(src, "main.ts")],
  outfile: join(dist, "app.js"),
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2022"],
  platform: "browser",
  sourcemap: "linked",
  legalComments: "linked",
  logLevel: "warning",
  metafile: true,
});
await Promise.all(["index.html", "style.css"].map((f) => copyFile(join(src, f), join(dist, f))));
const bytes = result.metafile.outputs["dist/app.js"]?.bytes ?? Object.values(result.metafile.outputs)[0]?.bytes;
console.log(`built dist/ (app.js ${Math.round((bytes ?? 0) / 1024)} KiB)`);
