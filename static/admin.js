// The admin console's small helpers; every page works without them.
// - Deleting a rule asks first in a <dialog> (without script, the confirm page asks).
// - The rule form shows only the fields of the chosen reply type (without script, all show
//   and the server reads only the chosen type's).
// - A file picker says its button and the chosen file in the page's language (the browser's
//   own input speaks the browser's).

const dialog = document.getElementById("rule-delete-dialog");
if (dialog && typeof dialog.showModal === "function") {
  const form = dialog.querySelector("form");
  const question = dialog.querySelector(".question");
  dialog.querySelector("button.cancel").addEventListener("click", () => dialog.close());
  for (const del of document.querySelectorAll("form.rule-delete")) {
    del.addEventListener("submit", (e) => {
      e.preventDefault();
      // the same address, posted: the confirm page's form posts there too
      form.action = del.action;
      question.textContent = question.dataset.template.replace("{name}", del.dataset.name);
      dialog.showModal();
    });
  }
}

const ruleForm = document.getElementById("rule-form");
if (ruleForm) {
  const replyType = ruleForm.elements.reply_type;
  const action = ruleForm.elements.action;
  const show = () => {
    // a transfer to WeChat's tool carries no reply
    const transfer = action.value === "transfer_wechat";
    for (const el of ruleForm.querySelectorAll(".reply-choice")) el.hidden = transfer;
    for (const set of ruleForm.querySelectorAll("fieldset[data-reply-type]")) {
      const shown = !transfer && set.dataset.replyType === replyType.value;
      set.hidden = !shown;
      set.disabled = !shown;
    }
  };
  replyType.addEventListener("change", show);
  action.addEventListener("change", show);
  show();
}

for (const pick of document.querySelectorAll("label.file-pick")) {
  const input = pick.querySelector("input[type=file]");
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = pick.dataset.choose;
  const chosen = document.createElement("span");
  chosen.className = "file-chosen muted";
  chosen.textContent = pick.dataset.none;
  button.addEventListener("click", () => input.click());
  input.addEventListener("change", () => {
    chosen.textContent = input.files.length ? input.files[0].name : pick.dataset.none;
  });
  input.hidden = true;
  pick.append(button, " ", chosen);
}
