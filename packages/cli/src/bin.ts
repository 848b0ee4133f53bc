// Entry point when run from source (bin/umm.mjs starts this through tsx).
import { main } from "./main.js";

process.exitCode = await main(process.argv.slice(2));
