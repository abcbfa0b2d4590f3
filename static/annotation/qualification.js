// Qualification page: measure the screen and the refresh rate of animation frames (P.910's
// viewing-condition check), play the spoken number of the audio check. The server decides.
"use strict";

(function () {
  const form = document.getElementById("qualification");
  if (!form) return;
  const submit = document.getElementById("qualify");
  const audio = document.getElementById("number-audio");
  const playNumber = document.getElementById("play-number");
  if (playNumber && audio) {
    playNumber.addEventListener("click", () => {
      audio.currentTime = 0;
      audio.play().catch(() => {});
    });
  }
  if (!form.dataset.display) return;
  const status = document.getElementById("display-status");
  const set = (name, value) => { form.querySelector(`input[name=${name}]`).value = value; };
  // The median gap between 60 animation frames; a hidden page gets none, so wait for it.
  const stamps = [];
  function frame(time) {
    stamps.push(time);
    if (stamps.length < 61) { requestAnimationFrame(frame); return; }
    const gaps = stamps.slice(1).map((t, i) => t - stamps[i]).sort((a, b) => a - b);
    const hz = 1000 / gaps[Math.floor(gaps.length / 2)];
    set("screen_width", window.screen.width);
    set("screen_height", window.screen.height);
    set("refresh_hz", hz.toFixed(1));
    status.textContent = `Screen ${window.screen.width} × ${window.screen.height}, about ${Math.round(hz)} frames a second. Measured.`;
    submit.disabled = false;
  }
  requestAnimationFrame(frame);
})();
