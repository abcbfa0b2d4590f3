// Rater pages: play a clip, unlock its answers only once the server has seen it play to the end,
// and record the time on the item in the form's hidden field. The server counts the plays and
// enforces the study's limit; the page only mirrors it. No native controls: seeking to the end
// would fake "played to the end". A play counts only while the page is in view and, where the
// question needs sound, the player is not muted: otherwise the clip stops, the server hears
// "interrupted", and the rater plays it again. Unlocked answers are announced to screen readers.
"use strict";

(function () {
  const csrfField = document.querySelector("input[name=csrfmiddlewaretoken]");

  function setup(box) {
    const player = box.querySelector(".player");
    const video = box.querySelector("video");
    const play = box.querySelector("button.play");
    const problem = box.querySelector(".player-error");
    const answers = box.querySelector("fieldset.answers");
    const submit = box.querySelector("button.submit");
    const announce = box.querySelector(".announce");
    const soundMatters = player.dataset.sound === "on";
    const maxPlays = Number(box.dataset.maxPlays || 0);
    const shownAt = performance.now();
    let plays = 0;
    let playReported = Promise.resolve();
    let refused = false;
    let playedToEnd = false;

    function setField(name, value) {
      const field = box.querySelector(`input[type=hidden][name="${name}"]`);
      if (field) field.value = value;
    }

    function showProblem(message) {
      problem.textContent = message;
      problem.hidden = !message;
    }

    // Tell the server about a player event; resolves to its record of this clip.
    async function report(event) {
      const response = await fetch(player.dataset.playUrl, {
        method: "POST",
        body: new URLSearchParams({ event }),
        headers: { "X-CSRFToken": csrfField ? csrfField.value : "" },
        credentials: "same-origin",
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body.error || `The server refused (${response.status}).`);
      return body;
    }

    function complete() {
      // Every scale needs a choice; a transcript may stay empty (the rater could not tell), and
      // so may a token list (nothing looked wrong).
      return Array.from(box.querySelectorAll(".question")).every((q) => {
        return q.querySelector("textarea, input[type=checkbox]") ||
          q.querySelector("input[type=radio]:checked");
      });
    }

    function interrupt(message) {
      if (video.paused || video.ended) return;
      video.pause();
      showProblem(message);
      playReported.then(() => report("interrupted")).catch(() => {});
      refresh();
    }

    function refresh() {
      if (submit) submit.disabled = !(playedToEnd && complete());
      const spent = refused || (maxPlays > 0 && plays >= maxPlays);
      play.disabled = !video.paused || spent;
      play.textContent = plays === 0 ? "Play the clip" : spent ? "No more replays" : "Play again";
    }

    play.addEventListener("click", () => {
      showProblem("");
      video.currentTime = 0;
      // Start at once, inside the click (browsers allow sound only then), and stop if the
      // server refuses the play.
      video.play().catch(() => { play.disabled = false; });
      plays += 1;
      refresh();
      playReported = report("play")
        .then((record) => { plays = record.plays; refresh(); })
        .catch((error) => {
          video.pause();
          refused = true;
          showProblem(error.message);
          refresh();
        });
    });
    video.addEventListener("ended", () => {
      // After the play's own report: the server times "ended" from it.
      playReported
        .then(() => report("ended"))
        .then((record) => {
          if (!record.played_to_end) return;
          playedToEnd = true;
          box.classList.add("played");
          answers.disabled = false;
          if (announce) announce.textContent = "The clip has played to its end: you can answer now.";
          refresh();
        })
        .catch((error) => { showProblem(error.message); refresh(); });
    });
    video.addEventListener("pause", refresh);
    document.addEventListener("visibilitychange", () => {
      if (document.hidden) {
        interrupt("The clip stopped because the page was out of view. Play it again and keep this page in view.");
      }
    });
    video.addEventListener("volumechange", () => {
      if (soundMatters && (video.muted || video.volume === 0)) {
        interrupt("The clip stopped because the sound was turned off. This question needs sound: turn it on and play the clip again.");
      }
    });
    answers.addEventListener("change", refresh);
    answers.addEventListener("input", refresh);
    if (box.tagName === "FORM") {
      box.addEventListener("submit", (event) => {
        if (!playedToEnd || !complete()) {
          event.preventDefault();
          return;
        }
        setField("time_on_item_s", ((performance.now() - shownAt) / 1000).toFixed(2));
        // One click, one post: a second click while the page loads would only repeat it.
        submit.disabled = true;
      });
    }
    refresh();
  }

  document.querySelectorAll(".trial-box").forEach(setup);
})();
