"""Published questionnaires converted into Steward templates (docs/questionnaires.md).

``canada_aia`` converts Canada's Algorithmic Impact Assessment as its official tool publishes
it, scoring as the tool scores; ``surveyjs`` reads the SurveyJS file it is written in. Pure
functions over plain data, like ``assessments.engine``; the command ``import_questionnaire``
reads and writes the files.
"""

from assessments.questionnaires.canada_aia import (
    FORMATS,
    LANGUAGES,
    Conversion,
    convert_canada_aia,
    embedded_weight,
)
from assessments.questionnaires.surveyjs import ConversionError, plain_text, question_key

__all__ = [
    "FORMATS",
    "LANGUAGES",
    "Conversion",
    "ConversionError",
    "convert_canada_aia",
    "embedded_weight",
    "plain_text",
    "question_key",
]
