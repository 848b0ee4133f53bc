export { HELP, type Io, main, VERSION } from "./main.js";
