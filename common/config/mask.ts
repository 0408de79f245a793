/**
 * A server setting as it may be echoed: everything before its last `@` (after any scheme) is credentials,
 * whatever their form (`u:pw@host`, `redis://u:p w@host`, a password holding `@` or `/`).
 */
export const maskServer = (value: string): string => value.replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^]*@/i, (_, scheme: string | undefined) => `${scheme ?? ''}***@`);

/**
 * One item of a comma-separated server list, as a message may show it: nothing of it when the list holds
 * an `@` anywhere (a password may hold a comma, so an item may be part of one).
 */
export const shownItem = (list: string, item: string): string => (list.includes('@') ? '***' : item);
