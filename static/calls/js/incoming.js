// On every page but the call page: keep a signaling connection so direct calls ring here.
import { wireNotificationSetting } from "./notify.js";
import { Signaling } from "./signaling.js";
import { attachCalls, calls } from "./ring.js";

const who = document.getElementById("who");
const signaling = new Signaling();
attachCalls(signaling, { me: Number(who?.dataset.userId) });
signaling.connect();
window.rtcSignaling = signaling;
window.rtcCalls = calls; // for tests and debugging
const setting = document.getElementById("notifications");
if (setting) wireNotificationSetting(setting);
