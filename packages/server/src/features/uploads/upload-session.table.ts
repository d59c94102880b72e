/** A resumable upload: `received` is the acknowledged offset (the bytes are fsync'd on disk). */
export interface UploadSessionTable {
  id: string;
  tenant_id: string;
  size: number;
  received: number;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

declare module '../../db/database.js' {
  interface Database {
    upload_sessions: UploadSessionTable;
  }
}
