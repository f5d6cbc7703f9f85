"""Problem messages in the reader's language: the web layer's translation of the domain's texts.

The domain (ledger/) returns problems as values, `Problem(where, field, value, message, row)`, with
English messages, often with values interpolated ("the household is in 木尕拉镇, the project in
阿其克乡"). It stays language-neutral: the JSON API (api/) gives these texts to machines as they
are. This module owns what a Chinese-reading officer sees instead, on the pages and in the error
sheet of a failed import: `problem_message(message, locale)`.

- "en" (any locale but "zh"): the message unchanged.
- "zh": an exact-match table first (`EXACT`), then an ordered tuple of anchored regexes with named
  groups (`PATTERNS`), each mapped to a Chinese template. The values a message carries (codes,
  dates, amounts, names, row numbers) go over unchanged; a few groups are words of the domain's
  own vocabulary (a status, an industry, a field's English name) and are put into Chinese by the
  converter named after the group (`_CONVERTERS`: a group `pstatus` or `pstatus2` uses the
  `pstatus` converter). A converter that does not know its word rejects that pattern, so a
  message is never half translated.
- A message nothing matches is returned unchanged (the English text): never an error.

When the domain adds or rewords a message, add it here; tests/web/test_problem_text.py produces real
problems from the domain and fails on any that come out untranslated.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping

from ledger.entries import Problem
from ledger.imports.tabular import TEMPLATES
from ledger.payments import BATCH_STATUS_NAMES_ZH, PURPOSE_NAMES_ZH, ROW_STATUS_NAMES_ZH
from ledger.projects import INDUSTRY_NAMES_ZH
from ledger.projects import STATUS_NAMES_ZH as PROJECT_STATUS_NAMES_ZH
from ledger.registry import RELATION_LABELS
from web import i18n

__all__ = ["EXACT", "PATTERNS", "localised", "problem_message"]

_DATE_HELP_ZH = "日期请写作 YYYY-MM-DD，如 2026-03-02"
_MONTH_HELP_ZH = "月份请写作 YYYY-MM，如 2026-03"

# ---------------------------------------------------------------------------------------------
# Messages without values

EXACT: dict[str, str] = {
    # ledger/ids.py: resident ID numbers (身份证号) and bank accounts (一卡通账号)
    "ID number must be text": "身份证号须为文本",
    "ID number is missing": "身份证号未填写",
    "this is an old 15-digit ID number; enter the 18-digit number of the current (second-generation) ID card":
        "这是旧的 15 位身份证号；请填写现行第二代身份证的 18 位号码",
    "the check character (the last one) does not match the other 17 digits: a digit is mistyped or two are "
    "swapped; compare with the ID card":
        "校验码（最后一位）与前 17 位不符：有数字填错或两位数字颠倒，请与身份证核对",
    "fails the bank-card check digit (Luhn): if this is a bank card a digit is mistyped; passbook (存折) accounts "
    "have no check digit":
        "未通过银行卡校验位（Luhn）检查：如是银行卡，则有数字填错；存折账户没有校验位",
    "account number is missing": "账号未填写",
    # ledger/users.py: users and passwords
    "user name: 2–64 of a–z, 0–9, '.', '_' or '-', starting with a letter":
        "用户名：2–64 个字符，只能用 a–z、0–9、“.”、“_”或“-”，以字母开头",
    "user name already taken": "用户名已被占用",
    "no such user": "没有这个用户",
    "current password is wrong": "当前密码不正确",
    "wrong user name or password": "用户名或密码错误",
    "no such token": "没有这个令牌",
    # ledger/entries.py: check_draft and codes
    "account code is missing": "会计科目代码未填写",
    "account code must be Root:Component[:…] with root Assets, Liabilities, Equity, Income or Expenses and "
    "components starting with an uppercase ASCII letter, then letters, digits or '-'":
        "会计科目代码须写作 根:组成部分[:…]，根为 Assets、Liabilities、Equity、Income 或 Expenses，"
        "各组成部分以大写 ASCII 字母开头，其后为字母、数字或“-”",
    "fund code is missing": "资金编码未填写",
    "an entry needs at least two postings": "一笔分录至少需要两条记账明细",
    "amount must be integer fen": "金额必须是整数分",
    "a posting cannot be zero": "记账明细的金额不能为零",
    "amount out of range": "金额超出范围",
    # ledger/journal.py and ledger/services.py: the journal's refusals, fund receipts
    "key repeated with a different payload": "业务键重复，但内容不同",
    "unknown account": "未知的会计科目",
    "unknown fund": "未知的资金来源",
    "unknown account (use --open to open it)": "未知的会计科目（用 --open 开设）",
    "unknown fund (use --open to open it)": "未知的资金来源（用 --open 开设）",
    "a reversal must name the entry it reverses": "冲销分录须指明被冲销的分录",
    "no such entry": "没有这笔分录",
    "a reversal cannot be reversed": "冲销分录不能再被冲销",
    "entry is already reversed": "该分录已被冲销",
    "fund already registered": "该资金来源已登记",
    "a reallocation needs two different projects": "资金调剂需要两个不同的项目",
    "re-designation needs two different funds": "调整资金来源需要两个不同的资金来源",
    "month must be YYYY-MM": "月份须为 YYYY-MM",
    "period is already closed": "该会计期间已结账",
    "the file has no entries": "文件中没有分录",
    "the file changed between the two passes": "两遍读取之间文件发生了变化",
    "no such account": "没有这个会计科目",
    "an event moves a positive amount": "业务金额必须大于零",
    "a payment takes money from at least one fund": "一笔支出至少要从一个资金来源支付",
    # ledger/history.py: history (补录) approvers
    "no active user by that name": "没有这个在用的用户名",
    "the approver must be another user than the importer": "审批人必须是导入人以外的其他用户",
    # ledger/registry.py: the registry (户籍)
    "a household number is 1–32 letters, digits or '-'": "户编号为 1–32 个字母、数字或“-”",
    "not a valid ID number": "身份证号无效",
    "household size must be a whole number": "家庭人口数须为整数",
    "bank account (一卡通账号) is missing": "一卡通账号未填写",
    "bank account must be text": "一卡通账号须为文本",
    "a phone number is 5–20 digits (with '-' or a leading '+')": "联系电话为 5–20 位数字（可含“-”或以“+”开头）",
    "a township code is 1–32 letters, digits, '-' or '_'": "乡镇代码为 1–32 个字母、数字、“-”或“_”",
    "kind is missing and the name does not end in 乡 or 镇": "未填写类别，且名称不以“乡”或“镇”结尾",
    "no such township": "没有这个乡镇",
    "this household is registered in another township": "该户已在其他乡镇登记",
    "this household is closed (注销); reopen it with a status change first": "该户已注销；请先通过变更户类型恢复该户",
    "no such household (not registered and not in this import)": "没有这一户（户籍中未登记，本次导入中也没有）",
    "this household is closed (注销)": "该户已注销",
    "the head is not among the household's persons": "户主不在该户的家庭成员中",
    "the head is not an active member of the household": "户主不是该户的在册家庭成员",
    "the household's head is no longer an active member; import the household's row with its new head":
        "该户户主已不是在册家庭成员；请导入填写了新户主的该户农户行",
    "the household's head has relation head (户主)": "该户户主的与户主关系应为“户主”",
    "only the household's head has relation head (户主)": "只有户主的与户主关系可以是“户主”",
    "another member is still registered as head; import the household's persons with their new relations":
        "另有家庭成员仍登记为户主；请导入该户的家庭成员及其新的与户主关系",
    "no such household": "没有这一户",
    "no active person with this ID number": "没有持此身份证号的在册人员",
    "the end date is before the start date": "结束日期早于开始日期",
    "give a name, an ID number or a household number": "请填写姓名、身份证号或户编号",
    "the search text is too long": "查询内容过长",
    # ledger/payments.py: payment rows, batches (发放批次), 公示, approval, bank returns (退票), re-issue (补发)
    "no such project in the project library": "项目库中没有这个项目",
    "the project belongs to another township": "该项目属于其他乡镇",
    "wages are paid from a public-welfare-post project, and such a project pays wages only":
        "工资只能由公益性岗位项目支付，公益性岗位项目也只能支付工资",
    "the project names no implementer (实施主体) to advance to or deliver": "该项目未填写实施主体，无法预付或交付实物",
    "no such household in the registry": "户籍中没有这一户",
    "the household is closed (注销)": "该户已注销",
    "the household belongs to another township": "该户属于其他乡镇",
    "a cash payment names the household's 一卡通 account": "现金发放须填写该户的一卡通账号",
    "a wage names the month it pays (YYYY-MM)": "工资须填写所属月份（YYYY-MM）",
    "the household's post is paid from another project": "该户的公益性岗位由其他项目支付",
    "the roll has no rows": "清册没有数据行",
    "declare the roll's control totals: how many rows and their sum (--count N --total YUAN)":
        "请申报清册的控制总数：笔数和金额合计（--count N --total YUAN）",
    "advances are entered one at a time": "预付款须逐笔录入",
    "this batch is already recorded; new rows go in a new batch": "该批次已登记；新增的行请放入新的批次",
    "an advance is a positive amount": "预付款金额必须大于零",
    "this ref is already recorded with other details": "该业务流水号已登记，但内容不同",
    "this batch number is taken": "该批次号已被使用",
    "this word is reserved for the payment pages; choose another batch number": "这个词为发放页面保留；请换一个批次号",
    "no such batch": "没有这个发放批次",
    "only a draft batch is disclosed": "只有草稿状态的批次才能公示",
    "an advance or a re-issue is not disclosed again; it goes to approval": "预付款和补发批次不再公示，直接送审批",
    "this batch is already decided": "该批次已审批或已驳回",
    "publish the disclosure (公示) first": "请先发布公示",
    "paid or failed": "结果须为 paid（已支付）或 failed（退票）",
    "no such payment": "没有这笔发放记录",
    "name the failed payments to pay again": "请指明需要补发的退票记录",
    "a re-issue batch pays one project's rows of one purpose": "一个补发批次只能补发同一项目、同一用途的记录",
    "this failed payment has already been re-issued": "这笔退票已经补发过",
    "the re-issue's ref would be too long": "补发记录的业务流水号会过长",
    # ledger/welfare.py: public-welfare posts (公益性岗位) and their wage roll
    "the project code is missing": "项目编号未填写",
    "the household number is missing": "户编号未填写",
    "the ID number is missing": "身份证号未填写",
    "the monthly wage is a positive amount in fen": "月工资必须是大于零的金额",
    "the start date (上岗日期) is missing": "上岗日期未填写",
    "the roster has no rows": "花名册没有数据行",
    "this post number is already registered (in another township)": "该岗位编号已在其他乡镇登记",
    "the project is closed": "该项目已关闭",
    "another post was registered for one of these households a moment ago (one open post per household): "
    "import the roster again":
        "刚才有其他操作为其中一户登记了岗位（每户同一时间只能有一个在岗岗位）：请重新导入花名册",
    "the end date is missing": "离岗日期未填写",
    "no such post": "没有这个岗位",
    "the post was ended a moment ago": "该岗位刚刚已办理离岗",
    "the month is written YYYY-MM, e.g. 2026-04": "月份写作 YYYY-MM，如 2026-04",
    "a batch number is 1–64 characters without spaces": "批次号为 1–64 个字符，不含空格",
    "the pay date is missing": "发放日期未填写",
    "no such project": "没有这个项目",
    # ledger/projects.py: the project library (项目库) and allocation requests (资金安排)
    "project code: 1–64 of A–Z, a–z, 0–9, '_', '.', '/' or '-', starting with a letter or digit":
        "项目编号：1–64 个字符，只能用 A–Z、a–z、0–9、“_”、“.”、“/”或“-”，以字母或数字开头",
    "this word is reserved for the project pages; choose another code": "这个词为项目页面保留；请换一个项目编号",
    "budget must be a whole number of fen, zero or more": "预算须为不小于零的整数分",
    "the per-household standard must be more than zero": "每户补助标准必须大于零",
    "the end date cannot be before the start date": "结束日期不能早于开始日期",
    "no such township in the registry (by name or code); register it first (huimin townships add CODE NAME)":
        "户籍中没有这个乡镇（按名称或代码查找）；请先登记该乡镇（huimin townships add CODE NAME）",
    "project code already registered": "项目编号已登记",
    "project code (or its account) registered a moment ago": "项目编号（或其账户）刚刚已被登记",
    "a closed project stays closed": "已关闭的项目不能再变更状态",
    "amount must be a whole number of fen above zero": "金额须为大于零的整数分",
    "the allocation date is missing": "安排日期未填写",
    "no such allocation request": "没有这个资金安排申请",
    "project code (or its account) registered a moment ago by another import; import the sheet again":
        "项目编号（或其账户）刚刚已被另一次导入登记；请重新导入表格",
    "no such project in the library (import the projects sheet first)": "项目库中没有这个项目（请先导入项目表）",
    "a county-wide project: its money is allocated by county-level users": "这是全县项目：其资金由县级用户安排",
    "unknown fund (import the funds sheet, its receipt, first)": "未知的资金来源（请先导入资金表，即资金到位记录）",
    # ledger/imports/cells.py: cells of an import sheet
    "the amount is missing": "金额未填写",
    "write the amount in yuan, such as 15000 rather than 1.5万": "金额请以元为单位填写，如 15000，不要写 1.5万",
    "write the amount in yuan with decimals, such as 12.50 rather than 12元5角":
        "金额请以元为单位、用小数填写，如 12.50，不要写 12元5角",
    "the amount is in exponent form (as Excel shortens long numbers): write it in full":
        "金额是科学计数法形式（Excel 会这样缩写长数字）：请完整填写",
    "commas may only separate thousands, as in 1,234.50": "逗号只能用作千位分隔符，如 1,234.50",
    "not an amount: write yuan with at most two decimals, such as 1234.50":
        "不是金额：请以元为单位填写，最多两位小数，如 1234.50",
    "the amount has more than two decimals: yuan have fen, nothing smaller, and the ledger never rounds an amount "
    "for you; correct it in the sheet (for a formula, =ROUND(…, 2))":
        "金额超过两位小数：元以下只到分，本系统不会替您四舍五入；请在表格中更正（公式可用 =ROUND(…, 2)）",
    "the amount is out of range": "金额超出范围",
    "the amount cannot be negative here": "此处金额不能为负数",
    "write dates as YYYY-MM-DD, such as 2026-03-02": _DATE_HELP_ZH,
    "the date is missing": "日期未填写",
    "write the month as YYYY-MM, such as 2026-03": _MONTH_HELP_ZH,
    "the month is missing": "月份未填写",
    "not a date": "不是日期",
    "the number is missing": "数字未填写",
    "must be a whole number": "必须是整数",
    "the number is out of range": "数字超出范围",
    "not a whole number: write digits only, such as 36": "不是整数：只填数字，如 36",
    "the rate is missing": "利率未填写",
    "not a rate: write the percentage as a number, such as 4.35 for 4.35 %":
        "不是利率：请把百分比写成数字，如 4.35 % 写作 4.35",
    "the value is missing": "该项未填写",
    "contains a line break, tab or control character: keep the value on one line":
        "含有换行符、制表符或控制字符：请把内容写在一行内",
    "contains a space: a number or code has none": "含有空格：编号或代码中不能有空格",
    # ledger/imports/files.py and tabular.py: the file as a whole
    "control totals are declared for payment rolls": "只有发放清册需要申报控制总数",
    "the file is empty": "文件是空的",
    "this is an old Excel 97-2003 (.xls) or WPS (.et) workbook, or a password-protected one: open it and save it "
    "as Excel Workbook (.xlsx) or CSV, without a password":
        "这是旧版 Excel 97-2003（.xls）或 WPS（.et）工作簿，或设置了密码的工作簿：请打开后另存为 Excel 工作簿"
        "（.xlsx）或 CSV，不设密码",
    "this is a PDF document, not a spreadsheet: import the Excel (.xlsx) or CSV file it was made from":
        "这是 PDF 文档，不是电子表格：请导入生成它的 Excel（.xlsx）或 CSV 文件",
    "this is a compressed (gzip) archive: unpack it and import the spreadsheet inside":
        "这是 gzip 压缩包：请解压后导入其中的电子表格",
    "this is a Word (RTF) document, not a spreadsheet": "这是 Word（RTF）文档，不是电子表格",
    "this is a binary file, not a spreadsheet: import an Excel Workbook (.xlsx) or a CSV file":
        "这是二进制文件，不是电子表格：请导入 Excel 工作簿（.xlsx）或 CSV 文件",
    "this is a web page or XML file (often exported by another system with an .xls name), not a workbook: open "
    "it in Excel and save it as Excel Workbook (.xlsx)":
        "这是网页或 XML 文件（其他系统导出时常以 .xls 命名），不是工作簿："
        "请用 Excel 打开后另存为 Excel 工作簿（.xlsx）",
    "the file looks like an Excel workbook (.xlsx) but is damaged or incomplete: save it again":
        "文件看似 Excel 工作簿（.xlsx），但已损坏或不完整：请重新保存",
    "this is an Excel Binary Workbook (.xlsb): save it as Excel Workbook (.xlsx)":
        "这是 Excel 二进制工作簿（.xlsb）：请另存为 Excel 工作簿（.xlsx）",
    "this is a Word document, not a spreadsheet": "这是 Word 文档，不是电子表格",
    "this is a PowerPoint presentation, not a spreadsheet": "这是 PowerPoint 演示文稿，不是电子表格",
    "this is an OpenDocument file (.ods): save it as Excel Workbook (.xlsx)":
        "这是 OpenDocument 文件（.ods）：请另存为 Excel 工作簿（.xlsx）",
    "this is a zip archive, not an Excel workbook: unpack it and import the spreadsheet inside":
        "这是 zip 压缩包，不是 Excel 工作簿：请解压后导入其中的电子表格",
    "the cell holds no finite number": "单元格中不是有效的数值",
    "the sheet has more rows than Excel allows": "工作表的行数超过 Excel 的上限",
    "the workbook has no worksheet": "工作簿中没有工作表",
    "the file has a header but no data rows": "文件只有表头，没有数据行",
    # ledger/imports/journal_lines.py: the journal's JSON Lines import
    "not UTF-8": "不是 UTF-8 编码",
    "each line must be one JSON object": "每行必须是一个 JSON 对象",
    "unknown field(s)": "未知字段",
    "key must be a non-empty string": "业务键必须是非空字符串",
    "date must be YYYY-MM-DD": "日期须为 YYYY-MM-DD",
    "kind must be a string": "类型必须是字符串",
    "memo must be a string": "摘要必须是字符串",
    "postings must be a list": "记账明细必须是列表",
    "a posting must be an object": "记账明细必须是对象",
    "account must be a string": "会计科目必须是字符串",
    "fund must be a string": "资金来源必须是字符串",
    "party must be a string": "对象必须是字符串",
    "reversals are posted with `huimin journal reverse`, not imported":
        "冲销用 `huimin journal reverse` 记账，不能导入",
}

# ---------------------------------------------------------------------------------------------
# Converters: words of the domain's vocabulary inside a message. None: not known (the pattern is
# then not used, and the message falls back to English rather than coming out half translated).

# A field as the registry names it in "{what} is missing" and its kin (ledger/registry.py), and the
# cell kinds ledger/imports names ("the ID number shows as …").
FIELD_NAMES_ZH = {
    "household number": "户编号", "township": "乡镇", "village": "行政村", "head's name": "户主姓名",
    "name": "姓名", "township code": "乡镇代码", "township name": "乡镇名称", "phone": "联系电话",
    "reason": "原因", "note": "备注", "position": "职务", "effective date": "生效日期", "date": "日期",
    "start date": "开始日期", "end date": "结束日期", "the ID number": "身份证号", "the account number": "账号",
    "this number": "该号码",
}
# Column keys of the import templates and of the rows they become, where a message names one.
COLUMN_NAMES_ZH = {
    "batch_no": "批次号", "household_no": "户编号", "payee_id_number": "收款人身份证号", "amount_fen": "金额（分）",
    "amount": "金额", "paid_on": "发放日期", "purpose": "用途", "period": "所属期", "post_type": "岗位类型",
    "project_code": "项目编号", "holder_id_number": "身份证号", "holder_name": "姓名", "monthly_wage": "月工资",
    "start_on": "开始日期", "end_on": "结束日期", "name": "项目名称", "industry": "产业", "township": "乡镇",
    "implementer": "实施主体", "budget": "预算", "standard": "补助标准", "kind": "类型", "project_id": "项目",
    "from_project_id": "调出项目", "fund_id": "资金来源", "allocate_on": "安排日期", "memo": "摘要",
    "prepared_by": "制单人",
}
ALLOCATION_STATUS_NAMES_ZH = {"pending": "待审批", "approved": "已批准", "rejected": "已驳回"}
FUND_KIND_NAMES_ZH = {"central": "中央", "region": "自治区", "prefecture": "地区", "county": "县级",
                      "partner_aid": "东西部协作", "social": "社会帮扶", "bank_credit": "银行信贷",
                      "unclassified": "未分类"}
_LIST_NAMES_ZH = {"households": "农户表", "persons": "家庭成员表", "townships": "乡镇表", "officials": "干部名单",
                  "reference": "比对名单"}
_HISTORY_SOURCES_ZH = {"payments": "发放清册", "funds": "资金到位", "allocations": "资金安排"}
_MONTHS = {name: str(i) for i, name in enumerate(calendar.month_name) if name}


def _place(text: str) -> str:
    """A problem's place as another message quotes it ("households row 5", "row 7"): in Chinese
    when its form is known, else as it is (it is a reference, and a reference stays readable)."""
    m = re.fullmatch(r"(?:(\w+) )?row (\d+)", text)
    if m and (m.group(1) is None or m.group(1) in _LIST_NAMES_ZH):
        return f"{_LIST_NAMES_ZH.get(m.group(1) or '', '')}第 {m.group(2)} 行"
    m = re.fullmatch(r"(\w+) #(\d+)", text)
    if m and m.group(1) in _LIST_NAMES_ZH:
        return f"{_LIST_NAMES_ZH[m.group(1)]}第 {m.group(2)} 条"
    return text


def _status_names(*tables: Mapping[str, str]) -> Callable[[str], str | None]:
    def convert(word: str) -> str | None:
        for table in tables:
            if word in table:
                return table[word]
        return None
    return convert


def _project_statuses(text: str) -> str | None:
    """"approved or implementing" -> 已批复或实施中."""
    names = [PROJECT_STATUS_NAMES_ZH.get(w) for w in text.split(" or ")]
    return None if None in names else "或".join(n for n in names if n)


def _held(text: str) -> str | None:
    """"12.00 in fund CENTRAL, 3.00 in fund TJ-AID" -> 资金来源 CENTRAL 12.00 元、资金来源 TJ-AID 3.00 元."""
    parts = [re.fullmatch(r"(-?[0-9]+\.[0-9]{2}) in fund (\S+)", p) for p in text.split(", ")]
    if not parts or any(m is None for m in parts):
        return None
    return "、".join(f"资金来源 {m.group(2)} {m.group(1)} 元" for m in parts if m)


def _role(word: str) -> str | None:
    name = i18n.catalogue("zh").get(word)
    return name if name and word in {"finance_officer", "approver", "loan_officer", "inspector", "admin",
                                     "system"} else None


def _template(name: str) -> str | None:
    spec = TEMPLATES.get(name)
    return f"“{spec.zh}”" if spec else None


_CONVERTERS: dict[str, Callable[[str], str | None]] = {
    "what": FIELD_NAMES_ZH.get,
    "col": lambda key: COLUMN_NAMES_ZH.get(key, key),
    "pstatus": _status_names(PROJECT_STATUS_NAMES_ZH),
    "pstatuses": _project_statuses,
    "bstatus": _status_names(BATCH_STATUS_NAMES_ZH),
    "rstatus": _status_names(ROW_STATUS_NAMES_ZH),
    "qstatus": _status_names(ALLOCATION_STATUS_NAMES_ZH),
    "industry": _status_names(INDUSTRY_NAMES_ZH),
    "purpose": lambda key: PURPOSE_NAMES_ZH.get(key, key),
    "relation": _status_names(RELATION_LABELS),
    "fundkind": _status_names(FUND_KIND_NAMES_ZH),
    "role": _role,
    "source": _HISTORY_SOURCES_ZH.get,
    "template": _template,
    "where": _place,
    "month": _MONTHS.get,
    "held": _held,
    "until": lambda text: "今" if text == "open" else text,
    "known": lambda text: "无" if text == "none" else text,
    "member": lambda text: "其他乡镇的某户" if text == "another township's household" else f"户 {text} ",
    "letters": lambda text: text.replace(" and ", "、"),
    "msg": lambda text: _translated(text),
}


def _converter(group: str) -> Callable[[str], str | None] | None:
    return _CONVERTERS.get(group.rstrip("0123456789"))


# ---------------------------------------------------------------------------------------------
# Messages with values

Template = str | Callable[[dict[str, str | None]], str]

_RAW: tuple[tuple[str, Template], ...] = (
    # ledger/money.py (MoneyError)
    (r'amount must be a decimal string such as "12\.34", got (?P<v>.*)',
     "金额须为小数形式的文本，如 \"12.34\"，收到的是 {v}"),
    (r"amount (?P<v>.+) is not a decimal with at most two places", "金额 {v} 不是最多两位小数的数"),
    (r"amount (?P<v>.+) is out of range", "金额 {v} 超出范围"),
    # ledger/ids.py
    (r"an ID number has (?P<n>\d+) characters; this is (?P<m>\d+) characters long",
     "身份证号应为 {n} 位，这里有 {m} 个字符"),
    (r"an ID number has (?P<n>\d+) characters; this one has (?P<m>\d+)", "身份证号应为 {n} 位，这个号码有 {m} 位"),
    (r"character (?P<pos>\d+) is (?P<ch>.+?) \(the letter (?P<letter>.) instead of (?P<digit>.)\?\); the first 17 "
     r"characters of an ID number must be digits",
     "第 {pos} 位是 {ch}（是否把数字 {digit} 写成了字母 {letter}？）；身份证号前 17 位必须是数字"),
    (r"character (?P<pos>\d+) is (?P<ch>.+?); the first 17 characters of an ID number must be digits",
     "第 {pos} 位是 {ch}；身份证号前 17 位必须是数字"),
    (r"the last character must be a digit or X, not (?P<ch>.+)", "最后一位必须是数字或 X，不能是 {ch}"),
    (r"the first two digits (?P<p>\d+) are not a province code \(11–82; 65 is Xinjiang\): the region part of the "
     r"number is mistyped", "前两位 {p} 不是省级行政区代码（11–82；新疆为 65）：号码的地区部分填写有误"),
    (r"characters 7–14 are the birth date \(YYYYMMDD\), but (?P<d>\S+) is not a real date: a digit of the birth date "
     r"is mistyped", "第 7–14 位是出生日期（YYYYMMDD），但 {d} 不是真实日期：出生日期有数字填错"),
    (r"the birth date in the number, (?P<b>\S+), is before (?P<y>\d+)", "号码中的出生日期 {b} 早于 {y} 年"),
    (r"the birth date in the number, (?P<b>\S+), is after (?P<d>\S+)", "号码中的出生日期 {b} 晚于 {d}"),
    (r"an account number has (?P<lo>\d+)–(?P<hi>\d+) digits; this is longer", "账号应为 {lo}–{hi} 位数字，这里更长"),
    (r"an account number is digits only; character (?P<i>\d+) is (?P<ch>.+?) \(the letter (?P<letter>.) instead of "
     r"(?P<digit>.)\?\)", "账号只能是数字；第 {i} 位是 {ch}（是否把数字 {digit} 写成了字母 {letter}？）"),
    (r"an account number is digits only; character (?P<i>\d+) is (?P<ch>.+)", "账号只能是数字；第 {i} 位是 {ch}"),
    (r"an account number has (?P<lo>\d+)–(?P<hi>\d+) digits; this one has (?P<n>\d+)",
     "账号应为 {lo}–{hi} 位数字，这个账号有 {n} 位"),
    # ledger/users.py
    (r"too many failed sign-ins; try again in (?P<n>\d+) minutes", "登录失败次数过多；请 {n} 分钟后再试"),
    (r"password must have at least (?P<n>\d+) characters", "密码至少需要 {n} 个字符"),
    (r"password must have at most (?P<n>\d+) characters", "密码最多 {n} 个字符"),
    (r"role must be one of (?P<list>.+)", "角色必须是以下之一：{list}"),
    # ledger/entries.py
    (r"account code is longer than (?P<n>\d+) characters", "会计科目代码超过 {n} 个字符"),
    (r"fund code must be 1–(?P<n>\d+) characters of A–Z, 0–9, '-' or '_'",
     "资金编码须为 1–{n} 个字符，只能用 A–Z、0–9、“-”或“_”"),
    (r"key must be 1–(?P<n>\d+) characters", "业务键须为 1–{n} 个字符"),
    (r"unknown kind; one of (?P<list>.+)", "未知的分录类型；应为以下之一：{list}"),
    (r"memo is longer than (?P<n>\d+) characters", "摘要超过 {n} 个字符"),
    (r"more than (?P<n>\d+) postings", "记账明细超过 {n} 条"),
    (r"party longer than (?P<n>\d+)", "对象超过 {n} 个字符"),
    (r"postings in fund (?P<fund>\S+) sum to (?P<sum>\S+), not 0\.00",
     "资金来源 {fund} 内的记账明细合计为 {sum}，不为 0.00（借贷不平）"),
    # ledger/journal.py and ledger/services.py
    (r"key already posted as entry (?P<seq>\d+) with a different payload", "业务键已记入分录 {seq}，但内容不同"),
    (r"key already used on line (?P<line>\d+) with a different payload", "业务键已在第 {line} 行使用，但内容不同"),
    (r"period (?P<m>\S+) is closed", "会计期间 {m} 已结账"),
    (r"account opens on (?P<d>\S+)", "该会计科目自 {d} 起启用"),
    (r"account closed on (?P<d>\S+)", "该会计科目已于 {d} 停用"),
    (r"(?P<account>\S+) in fund (?P<fund>\S+) would go to (?P<amount>\S+); it may not go below zero",
     "{account} 在资金来源 {fund} 下的余额将变为 {amount}；余额不得小于零（不得透支）"),
    (r"fund (?P<fund>.+) is registered as (?P<fundkind>\w+)", "资金来源 {fund} 登记的资金性质为{fundkind}"),
    (r"this receipt is already entry (?P<seq>\d+), posted as today's work and not as history: take the row out of "
     r"the history sheet",
     "该资金到位记录已是分录 {seq}，是作为日常业务记账的，不是历史数据：请从历史补录表中删除这一行"),
    (r"more than (?P<n>\d+) lines", "超过 {n} 行"),
    (r"cannot read: (?P<e>.+)", "无法读取：{e}"),
    (r"larger than (?P<n>\d+) MiB", "大于 {n} MiB"),
    # ledger/history.py
    (r"(?P<user>\S+) \((?P<role>\w+)\) may not approve (?P<source>\w+)", "{user}（{role}）无权审批{source}"),
    # ledger/payments.py: rows of a roll
    (r"the project is (?P<pstatus>\w+): only an approved or implementing project pays out",
     "项目状态为“{pstatus}”：只有已批复或实施中的项目才能支出"),
    (r"the household is in (?P<h>.+?), the project in (?P<p>.+)", "该户属于{h}，而项目属于{p}"),
    (r"not an active member of household (?P<h>\S+?)(?P<elsewhere> \(the person is registered in another "
     r"household\))?(?P<left>; the person has left the household)?",
     lambda g: f"不是户 {g['h']} 的在册家庭成员" + ("（此人登记在另一户）" if g["elsewhere"] else "")
     + ("；此人已离开该户" if g["left"] else "")),
    (r"the registry names this person (?P<name>.+)", "户籍中此人的姓名为 {name}"),
    (r"not the household's 一卡通 account in the registry \((?P<known>.+)\); correct the registry first",
     "与户籍登记的该户一卡通账号（{known}）不一致；请先更正户籍"),
    (r"above the project's standard of (?P<std>\S+) per household(?: with the (?P<before>\S+) it has already "
     r"received)?",
     lambda g: f"超过项目每户补助标准 {g['std']}" + (f"（连同该户已领取的 {g['before']}）" if g["before"] else "")),
    (r"quantity (?P<q>\d+) × unit price (?P<price>\S+) is (?P<total>\S+)",
     "数量 {q} × 单价 {price} 应为 {total}，与金额不符"),
    (r"the household held no public-welfare post in (?P<period>.+)", "该户在 {period} 没有公益性岗位"),
    (r"above the post's monthly wage of (?P<wage>\S+)", "超过岗位月工资 {wage}"),
    (r"already paid for this project and period \(ref (?P<ref>.+)\)", "本项目本期已发放（业务流水号 {ref}）"),
    (r"project (?P<code>.+) holds (?P<amount>\S+) for the rest of this roll",
     "项目 {code} 的账户余额只有 {amount}，不够支付本清册的其余各行"),
    (r"the implementer's undelivered advance holds (?P<amount>\S+) for the rest of this roll",
     "实施主体尚未交付的预付款只有 {amount}，不够支付本清册的其余各行"),
    # ledger/payments.py: a roll, its batches, disclosure (公示), approval, bank returns (退票), re-issue (补发)
    (r"the roll declares (?P<n>\d+) rows but holds (?P<m>\d+)", "清册申报 {n} 笔，实际有 {m} 笔"),
    (r"the roll declares (?P<declared>\S+) but its rows sum to (?P<total>\S+)",
     "清册申报金额合计 {declared}，各行合计为 {total}"),
    (r"batch (?P<batch>.+) is (?P<first>.+) \(row (?P<row>\d+)\); one batch is one project's roll of one purpose",
     "批次 {batch} 是 {first}（第 {row} 行）；一个批次只能是一个项目、一种用途的清册"),
    (r"ref (?P<ref>.+) is already recorded as history", "业务流水号 {ref} 已作为历史数据登记"),
    (r"ref (?P<ref>.+) is already recorded as today's work \(a batch in Huimin\)",
     "业务流水号 {ref} 已作为日常业务（惠民账本中的批次）登记"),
    (r"ref (?P<ref>.+) is already recorded with another purpose \((?P<purpose>\w+)\)",
     "业务流水号 {ref} 已登记，但用途不同（已登记为 {purpose}）"),
    (r"ref (?P<ref>.+) is already recorded with another (?P<col>\w+) \((?P<theirs>.*)\)",
     "业务流水号 {ref} 已登记，但{col}不同（已登记为 {theirs}）"),
    (r"a disclosure starts today or at most (?P<n>\d+) days ago", "公示开始日期须为今天或最多 {n} 天前"),
    (r"a disclosure lasts at least (?P<n>\d+) days", "公示期至少 {n} 天"),
    (r"the disclosure runs until (?P<last>\S+); approve on or after (?P<first>\S+)",
     "公示期到 {last} 为止；{first} 起方可审批"),
    (r"give a reason \(1–(?P<n>\d+) characters\)", "请填写原因（1–{n} 个字符）"),
    (r"give a reason \(1–(?P<n>\d+) characters on one line\)", "请填写原因（1–{n} 个字符，写在一行内）"),
    (r"listed twice \(row (?P<row>\d+)\)", "重复列出（第 {row} 行）"),
    (r"the payment is already (?P<rstatus>\w+)", "这笔发放已是“{rstatus}”状态"),
    (r"before the payment was posted on (?P<d>\S+)", "早于这笔发放的入账日期 {d}"),
    (r"the payment is (?P<rstatus>\w+), not failed", "这笔发放的状态是“{rstatus}”，不是退票"),
    # ledger/welfare.py
    (r"a post number is 1–(?P<n>\d+) letters, digits, '_', '\.' or '-', starting with a letter or digit",
     "岗位编号为 1–{n} 个字母、数字、“_”、“.”或“-”，以字母或数字开头"),
    (r"post type must be one of (?P<list>.+)", "岗位类型必须是以下之一：{list}"),
    (r"the holder's name: 1–(?P<n>\d+) characters on one line", "岗位人员姓名：1–{n} 个字符，写在一行内"),
    (r"a monthly wage of (?P<wage>\S+) is not a public-welfare post's wage \(under (?P<max>\S+)\): a digit too many\?",
     "月工资 {wage} 不像公益性岗位的工资（应低于 {max}）：是否多写了一位数？"),
    (r"the end date is before the start date (?P<d>\S+)", "离岗日期早于上岗日期 {d}"),
    (r"more than (?P<n>\d+) posts in one roster: split the sheet", "一份花名册超过 {n} 个岗位：请拆分表格"),
    (r"post (?P<post>.+) is listed twice \(first at (?P<where>.+)\): one row per post",
     "岗位 {post} 重复列出（首次出现在{where}）：每个岗位一行"),
    (r"post (?P<post>.+) already ended on (?P<d>\S+): an ending is not changed",
     "岗位 {post} 已于 {d} 离岗：离岗记录不能更改"),
    (r"project (?P<code>.+) is a (?P<industry>\w+) project: a post is paid from a public-welfare-post project "
     r"\(industry welfare_post 公益岗位\)",
     "项目 {code} 是{industry}项目：岗位工资须由公益性岗位项目（产业为 welfare_post 公益岗位）支付"),
    (r"household (?P<h>\S+) already holds post (?P<post>\S+) \((?P<type>\w+) (?P<typezh>\S*), (?P<start>\S+) – "
     r"(?P<until>\S+)\) at that time: one post per household at a time; end that post first \(离岗\) or start this "
     r"one after it ends",
     "户 {h} 在这段时间已有岗位 {post}（{typezh}，{start} 至 {until}）：每户同一时间只能有一个岗位；"
     "请先为该岗位办理离岗，或在它结束后再上岗"),
    (r"post (?P<post>.+) is registered with (?P<col>\w+) (?P<theirs>.+): a post keeps its holder, wage and dates; "
     r"end it and register a new post instead",
     "岗位 {post} 已登记的{col}为 {theirs}：岗位的人员、工资和日期不能更改；请办理离岗后登记新的岗位"),
    (r"the wage for (?P<period>\S+) is already in a roll \(ref (?P<ref>.+)\): end the post on or after (?P<d>\S+), "
     r"or have that roll rejected first",
     "{period} 的工资已列入发放清册（业务流水号 {ref}）：离岗日期须为 {d} 或之后，或先驳回该清册"),
    (r"the post already ended on (?P<d>\S+) \((?P<reason>.*)\)", "该岗位已于 {d} 离岗（{reason}）"),
    (r"before the post's start date (?P<d>\S+)", "早于岗位的上岗日期 {d}"),
    (r"a wage is paid in or after the month it pays \((?P<period>.+)\)", "工资须在所属月份（{period}）当月或之后发放"),
    (r"a (?P<industry>\w+) project: wages are paid from a public-welfare-post project \(welfare_post\)",
     "这是{industry}项目：工资须由公益性岗位项目（welfare_post）支付"),
    (r"no post of project (?P<code>.+?) is held in (?P<period>\S+)(?: in (?P<scope>.+))?",
     lambda g: f"{g['period']} 没有人在项目 {g['code']} 的岗位上" + (f"（{g['scope']}）" if g["scope"] else "")),
    # ledger/registry.py: fields of the registry's lists
    (r"(?P<what>.+) is missing", "{what}未填写"),
    (r"(?P<what>.+) must be text", "{what}须为文本"),
    (r"(?P<what>.+) is longer than (?P<n>\d+) characters", "{what}超过 {n} 个字符"),
    (r"(?P<what>.+) contains control characters", "{what}含有控制字符"),
    (r"(?P<what>.+) must be a date YYYY-MM-DD", "{what}须为日期 YYYY-MM-DD"),
    (r"(?P<what>.+) is not a real date", "{what}不是真实日期"),
    (r"(?P<what>.+) is in the future", "{what}不能是将来的日期"),
    (r"household size must be 1–(?P<n>\d+)", "家庭人口数须为 1–{n}"),
    (r"more than (?P<n>\d+) rows in one call; split the file", "一次超过 {n} 行；请拆分文件"),
    (r"kind must be one of (?P<list>.+)", "类别必须是以下之一：{list}"),
    (r"kind must be (?P<list>.+)", "类别必须是：{list}"),
    (r"township code appears again \(first at (?P<where>.+)\)", "乡镇代码重复（首次出现在{where}）"),
    (r"township name appears again \(first at (?P<where>.+)\)", "乡镇名称重复（首次出现在{where}）"),
    (r"another township \(code (?P<code>.+)\) has this name", "另一个乡镇（代码 {code}）已使用这个名称"),
    (r"this name is the code of another township \((?P<name>.+)\)", "这个名称是另一个乡镇（{name}）的代码"),
    (r"this code is the name of another township \(code (?P<code>.+)\)", "这个代码是另一个乡镇（代码 {code}）的名称"),
    (r"status must be one of (?P<list>.+)", "户类型必须是以下之一：{list}"),
    (r"outside your township \((?P<t>[^)]+)\)", "不在您所辖的乡镇（{t}）"),
    (r"household number appears again \(first at (?P<where>.+)\)", "户编号重复（首次出现在{where}）"),
    (r"relation must be one of (?P<list>.+)", "与户主关系必须是以下之一：{list}"),
    (r"no such village in (?P<t>.+?) \(villages are added only when the import is asked to create them\)",
     "{t}没有这个行政村（只有在导入时选择新建行政村，才会新增行政村）"),
    (r"no such village in (?P<t>.+)", "{t}没有这个行政村"),
    (r"this person is listed twice \(first at (?P<where>.+)\)", "此人重复列出（首次出现在{where}）"),
    (r"the same ID is listed in two households: (?P<h1>\S+) \((?P<where>.+)\) and (?P<h2>\S+)",
     "同一身份证号出现在两户中：{h1}（{where}）和 {h2}"),
    (r"already an active member of household (?P<member>.+); record them as moved out there first",
     "已是{member}的在册家庭成员；请先在该户办理迁出"),
    (r"registered as deceased \((?P<d>.+)\)", "已登记为死亡（{d}）"),
    (r"the head's name in the persons is (?P<name>.+)", "家庭成员表中户主的姓名为 {name}"),
    (r"the head is registered as (?P<relation>\w+); import the household's persons with their new relations",
     "户主登记的与户主关系为“{relation}”；请导入该户的家庭成员及其新的与户主关系"),
    (r"the household's status is recorded as effective on (?P<last>\S+); a change effective on (?P<on>\S+) would "
     r"come before it", "该户户类型登记的生效日期为 {last}；生效日期为 {on} 的变更会早于它"),
    (r"the status is recorded as effective on (?P<d>\S+); a change cannot come before it",
     "户类型登记的生效日期为 {d}；变更不能早于这一天"),
    (r"the household is already (?P<key>\w+) (?P<label>\S+)", "该户已是{label}（{key}）"),
    (r"reason must be one of (?P<list>.+)", "原因必须是以下之一：{list}"),
    (r"this official appears again \(first at (?P<where>.+)\)", "该干部重复列出（首次出现在{where}）"),
    (r"this entry appears again \(first at (?P<where>.+)\)", "该条目重复列出（首次出现在{where}）"),
    # ledger/projects.py
    (r"name: 1–(?P<n>\d+) characters", "项目名称：1–{n} 个字符"),
    (r"industry must be one of (?P<list>.+)", "产业必须是以下之一：{list}"),
    (r"township: 1–(?P<n>\d+) characters, or none for county-wide", "乡镇：1–{n} 个字符；全县项目不填"),
    (r"implementer: at most (?P<n>\d+) characters", "实施主体：最多 {n} 个字符"),
    (r"performance target: at most (?P<n>\d+) characters", "绩效目标：最多 {n} 个字符"),
    (r"its account (?P<account>\S+) is already the account of project (?P<other>.+); choose a code that differs in "
     r"more than punctuation", "其账户 {account} 已是项目 {other} 的账户；请选择一个不只是标点不同的项目编号"),
    (r"a project moves to one of (?P<list>.+)", "项目只能变更为以下状态之一：{list}"),
    (r"a status change needs a reason \(1–(?P<n>\d+) characters\)", "变更状态须填写原因（1–{n} 个字符）"),
    (r"the project is already (?P<pstatus>\w+)", "项目已是“{pstatus}”状态"),
    (r"a (?P<pstatus>\w+) project moves on to (?P<pstatus2>\w+)(?P<withdraw> \(or is withdrawn: closed\))?",
     lambda g: f"“{g['pstatus']}”的项目下一步只能变更为“{g['pstatus2']}”"
     + ("（或撤销：已关闭）" if g["withdraw"] else "")),
    (r"the project still holds (?P<held>.+); reallocate it before closing", "项目仍有结余：{held}；请先调剂再关闭"),
    (r"(?P<n>\d+) allocation request\(s\) naming this project are pending; decide them first",
     "有 {n} 笔涉及该项目的资金安排申请待审批；请先处理"),
    (r"the project is (?P<pstatus>\w+): only an approved or implementing project receives money",
     "项目状态为“{pstatus}”：只有已批复或实施中的项目才能安排资金"),
    (r"the project is (?P<pstatus>\w+): only a project that is (?P<pstatuses>.+?) receives money"
     r"(?P<hint> \(approve it in the library first\))?",
     lambda g: f"项目状态为“{g['pstatus']}”：只有{g['pstatuses']}的项目才能安排资金"
     + ("（请先在项目库中批复）" if g["hint"] else "")),
    (r"key already used by allocation request (?P<id>\d+) with different details \((?P<list>.+)\)",
     "该业务键已用于资金安排申请 {id}，但内容不同（{list}）"),
    (r"the request is already (?P<qstatus>\w+)", "该申请已是“{qstatus}”状态"),
    (r"more than (?P<n>\d+) rows: split the sheet", "超过 {n} 行：请拆分表格"),
    (r"shares its account (?P<account>\S+) with project (?P<code>.+) of row (?P<row>\d+); choose a code that differs "
     r"in more than punctuation", "与第 {row} 行的项目 {code} 共用账户 {account}；请选择一个不只是标点不同的项目编号"),
    (r"outside your township \((?P<t>[^)]+)\): a township officer registers its own township's projects; "
     r"county-wide ones are the county's",
     "不在您所辖的乡镇（{t}）：乡镇财务人员只登记本乡镇的项目，全县项目由县级登记"),
    (r"project (?P<code>.+) is already registered with (?P<col>\w+) (?P<theirs>.+): a sheet cannot change a "
     r"registered project", "项目 {code} 已登记的{col}为 {theirs}：导入表格不能修改已登记的项目"),
    (r"key (?P<key>.+) is already used by allocation request (?P<id>\d+) with other details",
     "业务键 {key} 已用于资金安排申请 {id}，但内容不同"),
    (r"this allocation is already allocation request (?P<id>\d+) \((?P<qstatus>\w+)\), entered as today's work and "
     r"not as history: take the row out of the history sheet",
     "该资金安排已是资金安排申请 {id}（{qstatus}），是作为日常业务录入的，不是历史数据：请从历史补录表中删除这一行"),
    # ledger/imports/cells.py: one cell
    (r"(?P<what>the ID number|the account number) shows as (?P<text>.+): Excel turned it into a number and kept only "
     r"15 digits, so the rest are lost; format the column as Text \(文本\) and type the numbers again",
     "{what}显示为 {text}：Excel 把它变成了数字，只保留 15 位，其余数字已丢失；请把该列设为“文本”格式后重新输入"),
    (r"there is no month (?P<m>\d+): (?P<msg>.+)", "没有 {m} 月：{msg}"),
    (r"(?P<d>\d{4}-\d{2}-\d{2}) is not a real date: (?P<month>[A-Z][a-z]+) (?P<y>\d{4}) has (?P<last>\d+) days",
     "{d} 不是真实日期：{y} 年 {month} 月只有 {last} 天"),
    (r"the date (?P<d>\S+) is outside (?P<a>\d+)–(?P<b>\d+)", "日期 {d} 不在 {a}–{b} 年之间"),
    (r"the year must have four digits \(2026, not 26\): (?P<msg>.+)", "年份须为四位数（2026，而不是 26）：{msg}"),
    (r"(?P<s>.+) puts the year last, so it could be day-month or month-day: (?P<msg>.+)",
     "{s} 把年份写在最后，无法确定是“日-月”还是“月-日”：{msg}"),
    (r"(?P<s>.+) looks like an Excel date serial number \(the cell lost its date format\): format the column as a "
     r"date or (?P<msg>.+)",
     "{s} 像是 Excel 的日期序列号（单元格丢失了日期格式）：请把该列设为日期格式，或按要求填写：{msg}"),
    (r"not a date: (?P<msg>.+)", "不是日期：{msg}"),
    (r"(?P<s>.+) is ambiguous: Excel shows 2026\.10 \(October\) as 2026\.1 too; (?P<msg>.+) \(2026-01 or 2026-10\)",
     "{s} 有歧义：Excel 也会把 2026.10（10 月）显示为 2026.1；{msg}（2026-01 或 2026-10）"),
    (r"the year (?P<y>\d+) is outside (?P<a>\d+)–(?P<b>\d+)", "年份 {y} 不在 {a}–{b} 之间"),
    (r"a month is expected, not a day: (?P<msg>.+)", "这里应填月份，不是具体日期：{msg}"),
    (r"not a month: (?P<msg>.+)", "不是月份：{msg}"),
    (r"a rate has at most (?P<n>\d+) decimals", "利率最多 {n} 位小数"),
    (r"not one of: (?P<list>.+)", "不是可选值之一：{list}"),
    (r"longer than (?P<n>\d+) characters", "超过 {n} 个字符"),
    (r"must be at least (?P<v>.+)", "不能小于 {v}"),
    (r"must be at most (?P<v>.+)", "不能大于 {v}"),
    (r"a rate of (?P<rate>\S+) % a year is very low: if (?P<meant>\S+) % is meant, write (?P<write>\S+)",
     "年利率 {rate} % 过低：如果是指 {meant} %，请填写 {write}"),
    # ledger/imports/cells.py: a row
    (r"(?P<label>.+) is required but the cell is blank", "{label} 为必填项，但单元格为空"),
    (r"(?P<later>.+) (?P<b>\d{4}-\d{2}-\d{2}) is before (?P<earlier>.+) (?P<a>\d{4}-\d{2}-\d{2})",
     "{later} {b} 早于 {earlier} {a}"),
    (r"the same (?P<labels>.+) as row (?P<first>\d+): each may appear only once in a file",
     "{labels} 与第 {first} 行相同：同一文件中不能重复出现"),
    # ledger/imports/files.py
    (r"--history is for (?P<list>.+)", "--history 只适用于：{list}"),
    (r"unknown template; one of (?P<list>.+)", "未知的模板；应为以下之一：{list}"),
    (r"this template cannot be imported yet; supported: (?P<list>.+)", "该模板暂不能导入；支持：{list}"),
    # ledger/imports/tabular.py: the file, its header
    (r"… and (?P<n>\d+) more problems not listed", "……另有 {n} 个问题未列出"),
    (r"cannot read the file: (?P<e>.+)", "无法读取文件：{e}"),
    (r"the file is larger than (?P<limit>\d+ MiB)(?: \((?P<actual>\S+ MiB)\))?: split it into smaller files",
     lambda g: f"文件大于 {g['limit']}" + (f"（{g['actual']}）" if g["actual"] else "") + "：请拆分为较小的文件"),
    (r"this is an image \((?P<fmt>\w+)\), not a spreadsheet", "这是图片（{fmt}），不是电子表格"),
    (r"this is a (?P<fmt>RAR|7-Zip) archive: unpack it and import the spreadsheet inside",
     "这是 {fmt} 压缩包：请解压后导入其中的电子表格"),
    (r"not UTF-8 from line (?P<line>\d+), byte (?P<byte>\d+)", "从第 {line} 行第 {byte} 个字节起不是 UTF-8 编码"),
    (r"row (?P<row>\d+) cannot be read as CSV \((?P<e>.+)\): is a quote \(\"\) left open\?",
     "第 {row} 行无法按 CSV 读取（{e}）：是否有引号（\"）没有闭合？"),
    (r"a quote \(\"\) in row (?P<row>\d+) is never closed, so the rest of the file runs into one cell: remove the "
     r"stray quote or close it",
     "第 {row} 行的引号（\"）没有闭合，文件其余部分都并进了一个单元格：请删除多余的引号或将其闭合"),
    (r"the cell holds (?P<n>\d+) characters; at most (?P<m>\d+) are read", "单元格有 {n} 个字符；最多读取 {m} 个"),
    (r"the file is neither UTF-8 nor GBK text(?: \((?P<e>.+)\))?: save it from Excel as \"CSV UTF-8\" or as Excel "
     r"Workbook \(\.xlsx\)",
     lambda g: "文件既不是 UTF-8 也不是 GBK 编码的文本" + (f"（{g['e']}）" if g["e"] else "")
     + "：请在 Excel 中另存为“CSV UTF-8”或 Excel 工作簿（.xlsx）"),
    (r"the file holds a control character \(code (?P<code>\w+)\) and is not a text file: import an Excel Workbook "
     r"\(\.xlsx\) or a CSV file",
     "文件含有控制字符（代码 {code}），不是文本文件：请导入 Excel 工作簿（.xlsx）或 CSV 文件"),
    (r"the workbook unpacks to more than (?P<n>\d+) MiB: split it into smaller files",
     "工作簿解压后超过 {n} MiB：请拆分为较小的文件"),
    (r"(?P<what>the ID number|the account number|this number) was typed as a number, and Excel keeps only "
     r"(?P<d>\d+) digits of a number, so the last digits are lost \(Excel holds (?P<shown>.+)\): format the column "
     r"as Text \(文本\) and type it again",
     "{what}是按数字输入的，Excel 只保留数字的前 {d} 位，后面的数字已丢失（Excel 中为 {shown}）："
     "请把该列设为“文本”格式后重新输入"),
    (r"the cell shows the Excel error (?P<e>.+): correct the formula or type the value",
     "单元格显示 Excel 错误 {e}：请更正公式或直接填写数值"),
    (r"the workbook cannot be read \((?P<e>.+)\): open it in Excel and save it again as Excel Workbook \(\.xlsx\)",
     "无法读取工作簿（{e}）：请用 Excel 打开后重新另存为 Excel 工作簿（.xlsx）"),
    (r"only the first sheet, (?P<title>.+), is read; the workbook has (?P<n>\d+) sheets",
     "只读取第一个工作表 {title}；该工作簿共有 {n} 个工作表"),
    (r"the worksheet cannot be read \((?P<e>.+)\): open it in Excel and save it again as Excel Workbook \(\.xlsx\)",
     "无法读取工作表（{e}）：请用 Excel 打开后重新另存为 Excel 工作簿（.xlsx）"),
    (r"the file has no rows: expected a header row and data rows", "文件没有任何行：应有表头行和数据行"),
    (r"the first sheet, (?P<title>.+), is empty: expected a header row and data rows",
     "第一个工作表 {title} 是空的：应有表头行和数据行"),
    (r"row 1 is blank and the first filled row is (?P<n>\d+): the header must be in row 1",
     "第 1 行为空，第一个有内容的行是第 {n} 行：表头必须在第 1 行"),
    (r"the header row has (?P<n>\d+) columns; at most (?P<m>\d+) are read", "表头有 {n} 列；最多读取 {m} 列"),
    (r"header cell (?P<c>[A-Z]+)1 is blank(?: \(after (?P<h>.+) in (?P<pc>[A-Z]+)1: merged header cells\?\))?: every "
     r"column needs its own header in row 1; unmerge the cells and name each column",
     lambda g: f"表头单元格 {g['c']}1 为空"
     + (f"（在 {g['pc']}1 的 {g['h']} 之后：是否合并了表头单元格？）" if g["h"] else "")
     + "：每一列在第 1 行都要有自己的表头；请取消合并单元格，并为每一列命名"),
    (r"columns (?P<letters>.+) are both (?P<label>.+): keep one of them", "第 {letters} 列都是 {label}：请只保留一列"),
    (r"required column (?P<label>.+) is missing from row 1", "第 1 行缺少必填列 {label}"),
    (r"these headers are those of the (?P<name>\w+) template \((?P<zh>.+)\): was the wrong import chosen\?",
     "这些表头属于“{zh}”（{name}）模板：是否选错了导入类型？"),
    (r"the file is not UTF-8 \((?P<note>.+)\) and read as GBK it has no known header: save it as \"CSV UTF-8\"",
     "文件不是 UTF-8 编码（{note}），按 GBK 读取也找不到已知的表头：请另存为“CSV UTF-8”"),
    (r"column (?P<c>[A-Z]+) (?P<h>.+) is not part of the (?P<template>\w+) template and is ignored"
     r"(?: \(did you mean (?P<label>.+)\?\))?",
     lambda g: f"第 {g['c']} 列 {g['h']} 不属于{g['template']}模板，已忽略"
     + (f"（是否指 {g['label']}？）" if g["label"] else "")),
    (r"the file has more than (?P<n>\d+) data rows: split it into smaller files",
     "文件超过 {n} 行数据：请拆分为较小的文件"),
    (r"column (?P<c>[A-Z]+) has values but no header and is ignored", "第 {c} 列有数据但没有表头，已忽略"),
    (r"row 1 is not the header: the header is in row (?P<n>\d+), under (?P<title>.+); delete the rows above it so "
     r"that the header is row 1",
     "第 1 行不是表头：表头在第 {n} 行，位于 {title} 之下；请删除它上方的行，使表头位于第 1 行"),
    # ledger/imports/journal_lines.py
    (r"line longer than (?P<n>\d+) bytes", "该行超过 {n} 个字节"),
    (r"not JSON: (?P<e>.+) at column (?P<col>\d+)", "不是 JSON：第 {col} 列处 {e}"),
)

PATTERNS: tuple[tuple[re.Pattern[str], Template], ...] = tuple(
    (re.compile(f"^(?:{source})\\Z"), template) for source, template in _RAW)


def _apply(pattern: re.Pattern[str], template: Template, message: str) -> str | None:
    m = pattern.match(message)
    if m is None:
        return None
    values: dict[str, str | None] = {}
    for group, value in m.groupdict().items():
        convert = _converter(group)
        if value is not None and convert is not None:
            value = convert(value)
            if value is None:
                return None  # a word this catalogue does not know: try the next pattern
        values[group] = value
    return template(values) if callable(template) else template.format(**values)


def _translated(message: str) -> str | None:
    """The Chinese text of a domain message, or None when the catalogue does not know it."""
    exact = EXACT.get(message)
    if exact is not None:
        return exact
    for pattern, template in PATTERNS:
        out = _apply(pattern, template, message)
        if out is not None:
            return out
    return None


def problem_message(message: str, locale: str | None = None) -> str:
    """A domain problem's message for a reader of `locale` (default: the current request's).

    English for "en" (as the domain wrote it); Chinese for "zh" when the catalogue knows the
    message; otherwise the English text unchanged."""
    if not isinstance(message, str):
        return "" if message is None else str(message)
    if (locale or i18n.current_locale.get()) != "zh":
        return message
    out = _translated(message)
    return message if out is None else out


def localised(problems: Iterable[Problem], locale: str | None = None) -> list[Problem]:
    """Copies of `problems` whose messages are in the reader's language (for an error sheet)."""
    return [dataclasses.replace(p, message=problem_message(p.message, locale)) for p in problems]
