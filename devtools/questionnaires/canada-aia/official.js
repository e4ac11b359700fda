// The AIA tool's scoring, copied from canada-ca/aia-eia-js src/store.ts (MIT licence,
// Copyright (c) 2019 Government of Canada), with TypeScript types removed and nothing else
// changed, run over SurveyJS 1.7.23's own model of the survey, as the tool runs it.
"use strict";

function addItemsInArray(val) {
  let total = 0;
  val.forEach(item => {
    if (typeof item === "number") {
      total = total + item;
    } else if (typeof item === "string") {
      total = total + parseEmbeddedValue(item);
    }
  });
  return total;
}

function hasScore(question) {
  if (
    question.getType() === "radiogroup" ||
    question.getType() === "checkbox" ||
    question.getType() === "dropdown"
  ) {
    // Check the suffix for "-RS" or "-MS" for valid score questions.
    return getScoreType(question) > 1;
  }
  return false;
}

function parseEmbeddedValue(val) {
  var lastHyphenIdx = val.lastIndexOf("-");
  if (lastHyphenIdx !== -1) {
    // Suffix after last "-" could be a number.
    var possibleValue = val.substr(lastHyphenIdx + 1);
    var value = Number(possibleValue);
    return isNaN(value) ? 0 : value;
  }

  return 0;
}

function getValue(val) {
  if (val === undefined) {
    return 0;
  }

  if (Array.isArray(val)) {
    return addItemsInArray(val);
  }

  if (typeof val === "string") {
    return parseEmbeddedValue(val);
  }

  if (typeof val !== "number") {
    return 0;
  }

  return val;
}

function getScoreTypeHelper(name) {
  // 1 - Not Scored, 2 - Raw Score, 3 - Mitigation Score
  if (name) {
    if (name.endsWith("-RS")) {
      return 2;
    } else if (name.endsWith("-MS")) {
      return 3;
    } else if (name.endsWith("-NS")) {
      return 1;
    }
  }

  return 0;
}

function getScoreType(question) {
  var result = getScoreTypeHelper(question.name);

  if (result > 0) {
    return result;
  }

  result = getScoreTypeHelper(question.parent.name);

  if (result == 0) {
    // Treat at no score.
    return 1;
  }

  return result;
}

function getMaxScoreForQuestion(question) {
  var questionType = question.getType();
  var max = 0;
  var value = 0;
  if (questionType == "radiogroup" || questionType == "dropdown") {
    question.choices.forEach(item => {
      value = getValue(item.itemValue);
      if (max < value) {
        max = value;
      }
    });
  } else if (questionType == "checkbox") {
    question.choices.forEach(item => {
      value = getValue(item.itemValue);
      max += value;
    });
  }

  return max;
}

function calculateFinalScore(survey, questionNames) {
  let rawRiskScore = 0;
  let maxRawRiskScore = 0;
  let maxMitigationScore = 0;
  let mitigationScore = 0;
  let total = 0;
  let percentage = 0.8;
  let deduction = 0.15;
  let level = 0;
  let threshold1 = 0.25;
  let threshold2 = 0.5;
  let threshold3 = 0.75;

  questionNames.forEach(name => {
    var currentQuestion = survey.getQuestionByName(name);
    var currentQuestionType = getScoreType(currentQuestion);

    if (currentQuestionType === 2) {
      rawRiskScore += getValue(survey.data[name]);
      maxRawRiskScore += getMaxScoreForQuestion(currentQuestion);
    } else if (currentQuestionType === 3) {
      mitigationScore += getValue(survey.data[name]);
      maxMitigationScore += getMaxScoreForQuestion(currentQuestion);
    }
  });

  //maxMitigationScore is divided by 2 because of Design/Implementation fork
  if (mitigationScore >= percentage * (maxMitigationScore / 2)) {
    total = Math.round((1 - deduction) * rawRiskScore);
  } else {
    total = rawRiskScore;
  }

  if (total <= maxRawRiskScore * threshold1) {
    level = 1;
  } else if (
    total > maxRawRiskScore * threshold1 &&
    total <= maxRawRiskScore * threshold2
  ) {
    level = 2;
  } else if (
    total > maxRawRiskScore * threshold2 &&
    total <= maxRawRiskScore * threshold3
  ) {
    level = 3;
  } else {
    level = 4;
  }

  return [rawRiskScore, mitigationScore, total, level];
}

// The store's questionNames: every scored question, shown or not (getAllQuestions()).
function scoredQuestionNames(survey) {
  return survey
    .getAllQuestions()
    .filter(question => hasScore(question))
    .map(question => question.name);
}

module.exports = {
  calculateFinalScore,
  getMaxScoreForQuestion,
  getScoreType,
  getValue,
  hasScore,
  scoredQuestionNames,
};
