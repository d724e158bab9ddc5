// The browser app, built by Vite into web/dist and served by callvault itself (src/http/pages.ts)
// under a strict Content-Security-Policy: script-src 'self', style-src 'self'. So the build emits
// no inline script or style, no module-preload polyfill and no data: URLs; only files in assets/.
import { defineConfig } from 'vite';

export default defineConfig({
  // Preact's automatic JSX runtime through Vite's own transformer (no plugin needed).
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    sourcemap: false,
    reportCompressedSize: false,
  },
  // `npx vite web` serves the app with hot reload against a callvault running on the default port.
  server: { proxy: { '/api': 'http://127.0.0.1:8750' } },
});
