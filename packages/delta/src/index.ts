export {
  type ApplyOptions,
  type ApplyStats,
  apply,
  applyMemoryBytes,
  applyToBuffer,
  INPUT_BUFFER_SIZE,
  OLD_BLOCK_SIZE,
  OUTPUT_CHUNK_SIZE,
  type PatchSource,
  type ReadOld,
} from './apply.js';
export {
  DIFF_STAGES,
  type DiffOptions,
  type DiffReport,
  type DiffStage,
  diff,
  diffDetailed,
  estimateMemory,
} from './diff.js';
export { DELTA_ERROR_CODES, DeltaError, type DeltaErrorCode, isDeltaErrorCode } from './errors.js';
export {
  isPatchKind,
  isPatchTransform,
  MAX_IMAGE_SIZE,
  PATCH_FORMAT_VERSION,
  PATCH_HEADER_SIZE,
  PATCH_KINDS,
  PATCH_TRANSFORMS,
  type PatchHeader,
  type PatchKind,
  type PatchTransform,
  parsePatchHeader,
} from './patch-header.js';
