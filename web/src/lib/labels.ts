import type { MessageKey } from "../i18n/messages";

export const STAGES = ["lead", "prospect", "customer", "loyal", "churned"] as const;
export const CHANNELS = ["phone", "email", "wechat", "visit", "meeting", "form", "other"] as const;
export const STAGE_COLORS: Record<string, string> = {
  lead: "default", prospect: "blue", customer: "green", loyal: "gold", churned: "red",
};

export function stageKey(stage: string): MessageKey {
  return (STAGES as readonly string[]).includes(stage) ? (`stage.${stage}` as MessageKey) : "stage.lead";
}

export function channelKey(channel: string): MessageKey {
  return (CHANNELS as readonly string[]).includes(channel) ? (`channel.${channel}` as MessageKey) : "channel.other";
}
