export { HELP, type Io, main, VERSION } from "./main.js";
export { type DvMapInput, type DvMapping, dvMapSvg } from "./report/dv-map.js";
export {
  type ReportFileData,
  type ReportImage,
  type ReportImageData,
  type ReportInlineSvg,
  type ReportLink,
  type ReportParts,
  reportHtml,
  type WriteReportParts,
  type WrittenReport,
  writeReport,
} from "./report/html.js";
export {
  type IntervalAlloc,
  IntervalBuilder,
  type IntervalBuilderOpts,
  type IntervalFree,
  type IntervalsFromTraceOpts,
  intervalsFromTrace,
} from "./report/intervals.js";
export {
  type AddrRange,
  type AllocInterval,
  intervalsLiveAt,
  type MemoryMapInput,
  type MemRegion,
  memoryMapSvg,
  type RegionSnapshotOpts,
  type RegionUsage,
  regionSnapshotSvg,
  regionUsage,
} from "./report/memory-map.js";
export {
  crc32,
  type EncodePngOpts,
  encodePng,
  type Nv12Layout,
  nv12ToRgba,
  PNG_SIGNATURE,
  xrgb8888ToRgba,
} from "./report/png.js";
export { type Progress, type ProgressOpts, progress } from "./report/progress.js";
export { type SvgToPngOpts, svgToPng } from "./report/render.js";
export { escapeXml, OWNER_PALETTE, ownerColor } from "./report/svg.js";
export {
  type SummaryColumn,
  type SummaryRow,
  type SummaryTableOpts,
  type SummaryValue,
  summaryTable,
} from "./report/table.js";
export {
  CHROME_DEVICES_PID,
  type ChromePair,
  type ChromeTrace,
  type ChromeTraceEvent,
  type ChromeTraceOpts,
  type ChromeTrack,
  DEFAULT_CHROME_PAIRS,
  defaultChromeTrack,
  toChromeTrace,
} from "./trace-export/chrome.js";
export { type FtraceTextOpts, toFtraceText } from "./trace-export/ftrace.js";
export type { TraceRecordLike } from "./trace-export/record.js";
