#!/usr/bin/env node
// Production entry point: runs the compiled CLI from dist/ (built by `npm run build`).
import '../dist/cli/main.js';
