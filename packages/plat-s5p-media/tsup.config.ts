import { packageTsup } from "../../tsup.shared.ts";

export default packageTsup(import.meta.url);
