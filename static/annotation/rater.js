// Rater pages: play a clip, unlock its answers only once it has played to the end, and record
// plays and time on the item in the form's hidden fields. No native controls: seeking to the end
// would fake "played to the end".
"use strict";

(function () {
  function setup(box) {
    const video = box.querySelector("video");
    const play = box.querySelector("button.play");
    const answers = box.querySelector("fieldset.answers");
    const submit = box.querySelector("button.submit");
    const maxPlays = Number(box.dataset.maxPlays || 0);
    const shownAt = performance.now();
    let plays = 0;
    let playedToEnd = false;

    function setField(name, value) {
      const field = box.querySelector(`input[type=hidden][name="${name}"]`);
      if (field) field.value = value;
    }

    function complete() {
      // Every scale needs a choice; a transcript may stay empty (the rater could not tell).
      return Array.from(box.querySelectorAll(".question")).every((q) => {
        return q.querySelector("textarea") || q.querySelector("input[type=radio]:checked");
      });
    }

    function refresh() {
      if (submit) submit.disabled = !(playedToEnd && complete());
      const spent = maxPlays > 0 && plays >= maxPlays;
      play.disabled = !video.paused || spent;
      play.textContent = plays === 0 ? "Play the clip" : spent ? "No more replays" : "Play again";
    }

    play.addEventListener("click", () => {
      video.currentTime = 0;
      video.play().catch(() => { play.disabled = false; });
    });
    video.addEventListener("play", () => {
      plays += 1;
      setField("play_count", plays);
      refresh();
    });
    video.addEventListener("ended", () => {
      playedToEnd = true;
      setField("played_to_end", "on");
      box.classList.add("played");
      answers.disabled = false;
      refresh();
    });
    video.addEventListener("pause", refresh);
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
