/** Digest of the last check-in report per device, so an unchanged report costs no write. */
export interface DeviceReportTable {
  device_id: string;
  tenant_id: string;
  report_digest: string;
  updated_at: string;
}

declare module '../../db/database.js' {
  interface Database {
    device_reports: DeviceReportTable;
  }
}
