/** A verified release: a signed SUIT envelope of one device class, with its payloads. */
export interface ReleaseTable {
  id: string;
  tenant_id: string;
  device_class_id: string;
  version: string;
  sequence_number: number;
  /** SHA-256 hex of the bstr-wrapped manifest (the SUIT_Digest that was signed). */
  manifest_digest: string;
  /** JSON array of the kids whose signatures verified. */
  signer_kids: string;
  /** JSON array of {@link ReleaseComponent}. */
  components: string;
  /** JSON object of SUIT text fields, or null. */
  text: string | null;
  /** The envelope bytes, base64 (text keeps one column type on every backend). */
  envelope: string;
  envelope_size: number;
  created_at: string;
  created_by: string | null;
  deleted_at: string | null;
}

/** One payload of a release; the bytes live in the blob store under `sha256`. */
export interface ReleasePayloadTable {
  tenant_id: string;
  release_id: string;
  component_id: string;
  sha256: string;
  sha1: string;
  md5: string;
  size: number;
  /** The file name the payload was uploaded under (safe characters only), or null. */
  file_name: string | null;
}

declare module '../../db/database.js' {
  interface Database {
    releases: ReleaseTable;
    release_payloads: ReleasePayloadTable;
  }
}
