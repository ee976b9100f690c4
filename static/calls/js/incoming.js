// On every page but the call page: keep a signaling connection so direct calls ring here.
import { Signaling } from "./signaling.js";
import { attachCalls } from "./ring.js";

const who = document.getElementById("who");
const signaling = new Signaling();
attachCalls(signaling, { me: Number(who?.dataset.userId) });
signaling.connect();
window.rtcSignaling = signaling;
