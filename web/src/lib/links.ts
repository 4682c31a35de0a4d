// Where a notification's `link` ({type, id}) opens in the console; null when no page shows it.
export function recordLink(link: { type: string; id: string } | null | undefined): string | null {
  if (!link) return null;
  switch (link.type) {
    case "customer": return `/customers/${link.id}`;
    case "approval": return "/approvals";
    case "import": return `/imports?job=${link.id}`;
    case "export": return `/imports?export=${link.id}`;
    case "api_key": return "/admin/api-keys";
    default: return null;
  }
}
